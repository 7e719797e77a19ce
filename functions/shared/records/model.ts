/**
 * The records table's items, as types (no zod, no SDK code: the signer bundles nothing of this module).
 * One item per org holds its routing and all its backends, so every change (activation included) is one
 * conditional UpdateItem, atomic without transactions (dynalite, the local DynamoDB, has no
 * TransactWriteItems), and the signer needs one GetItem per org.
 *
 *   pk "ORG#<orgId>"  sk "BACKENDS"                                   OrgRecord (keys and read: read.ts)
 *   pk "ORG#<orgId>"  sk "EVENT#<executionName>#<step>#<attempt>"     AuditEvent (audit.ts)
 *   pk "ORG#<orgId>"  sk "LOCATION#<location>"                        LocationRecord (location-read.ts)
 *
 * Nothing secret is ever stored here: CloudFront keys are referenced by Secrets Manager ARN (+ version).
 * The writes are pending-writes.ts (an onboarding's pending config), lifecycle-writes.ts (activate,
 * deactivate), audit.ts and locations.ts; the workflow's context is workflow-context.ts.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export type ConfigStatus =
  | 'PENDING'
  | 'AWAITING_TRUST'
  | 'VERIFYING'
  | 'VERIFIED'
  | 'AWAITING_APPROVAL'
  | 'ACTIVE'
  | 'FAILED'
  | 'ABANDONED';

/** Statuses of a config an execution is still working on. */
export const IN_PROGRESS_STATUSES: readonly ConfigStatus[] = ['PENDING', 'AWAITING_TRUST', 'VERIFYING', 'VERIFIED', 'AWAITING_APPROVAL'];
/** Statuses of a pending config whose execution is over without activating: the next onboarding may replace it. */
export const FINISHED_STATUSES: readonly ConfigStatus[] = ['FAILED', 'ABANDONED'];

/** Which execution a write is for, on which backend (the workflow context's fields of the same names). */
export interface ExecutionRef {
  orgId: string;
  roleName: string;
  executionArn: string;
}

export type CheckOutcome = 'PASS' | 'FAIL' | 'SKIP';

/** One verification check, as support reads it in `binary-backends status`. */
export interface CheckResult {
  name: string;
  result: CheckOutcome;
  message: string;
  /** What to do about a FAIL (or why a SKIP). */
  fix?: string;
  at: string;
}

export interface UploadConfig {
  bucket: string;
  region: string;
  roleArn: string;
  /** The 12-digit account in roleArn: the expected bucket owner. */
  accountId: string;
  prefix?: string;
}

export type DownloadConfig =
  | { type: 's3' }
  | {
      type: 'cloudfront';
      host: string;
      keyPairId: string;
      hashAlgorithm: 'SHA1' | 'SHA256';
      privateKeySecretArn: string;
      privateKeySecretVersionId?: string;
      ttlSeconds?: number;
    };

export interface ConfigError {
  name: string;
  message: string;
  remediation: string;
  at: string;
}

/** One onboarding's configuration of a backend: pending while it runs, serving once activated. */
export interface BackendConfig {
  configVersion: number;
  executionArn: string;
  executionName: string;
  status: ConfigStatus;
  requestedBy: string;
  /** From the injected clock when RecordConfig ran: deadlines are computed from it. */
  startedAt: string;
  /** When CheckTrust gives up with TrustPolicyTimeoutError. */
  trustDeadlineAt: string;
  attempts: number;
  lastCheckedAt?: string;
  /** A short sentence: what the last trust check saw ("AccessDenied on the customer role"). */
  lastCheckResult?: string;
  nextCheckAt?: string;
  upload: UploadConfig;
  download: DownloadConfig;
  checks: CheckResult[];
  /** How many of `checks` are FAIL; maintained by recordChecks so Activate can require 0 in its condition. */
  failedChecks?: number;
  /** When CreatePlatformRole stored the customer's trust policy. */
  trustPolicyReadyAt?: string;
  error?: ConfigError;
  /** Who asked for approval and who decided (approval.ts); the task token only while waiting. */
  approval?: ApprovalRecord;
  createdAt: string;
  updatedAt: string;
  activatedAt?: string;
  /** Set by Activate: this config's storage location (location-read.ts, `locationFor`). */
  location?: string;
  /**
   * The org's `fenceEpoch` RecordConfig saw when it wrote this config (absent = 0). Activate requires the
   * org's epoch to be unchanged, so a deactivation during the onboarding is never undone by it.
   */
  fenceEpoch?: number;
}

/** The starter's claim on a backend between StartExecution and RecordConfig, used for dedupe. */
export interface InflightClaim {
  executionName: string;
  executionArn: string;
  /** sha256 of the normalised request (without requestedBy): the same request twice is a double submit. */
  requestHash: string;
  configVersion: number;
  /** Kept so a double submit can re-send StartExecution with byte-identical input (idempotent while running). */
  requestedBy: string;
  at: string;
}

export interface Backend {
  roleName: string;
  platformRoleArn?: string;
  /** The exact JSON (seed's shape) the customer applies to their role. Not secret. */
  trustPolicy?: string;
  /** What support sends with the policy, including the "Invalid principal in policy" advice. */
  trustPolicyInstructions?: string;
  /** The highest configVersion the starter allocated: versions never repeat, so execution names never do. */
  lastConfigVersion: number;
  inflight?: InflightClaim;
  /** What the signer uses once this backend is active. */
  serving?: BackendConfig;
  /** An onboarding in progress, or its failed result. */
  pending?: BackendConfig;
}

export interface OrgRecord {
  pk: string;
  sk: 'BACKENDS';
  orgId: string;
  /** The active backend's roleName; absent means default storage. */
  active?: string;
  /** Optimistic-locking counter, bumped by every write. */
  version: number;
  backends: Record<string, Backend>;
  /**
   * lowercase roleName -> roleName. Lets the write that creates a backend refuse, in its condition, a
   * name that differs only in case from an existing one (IAM role names are case-insensitive).
   */
  roleNames?: Record<string, string>;
  /**
   * Bumped by every deactivation (absent = 0). Each pending config records the epoch it started under, and
   * Activate's condition requires it unchanged: a deactivation fences the onboardings running at that time.
   */
  fenceEpoch?: number;
  /** When the last deactivation wrote the fence: an execution the starter claimed before it is fenced too. */
  fencedAt?: string;
  updatedAt: string;
}

export interface AuditEvent {
  pk: string;
  sk: string;
  orgId: string;
  executionName: string;
  step: string;
  attempt: number;
  at: string;
  /** Non-secret facts about what the step did. */
  detail: Record<string, unknown>;
}

/** The approval state of a pending config (`backends.<roleName>.pending.approval`). */
export interface ApprovalRecord {
  /** Who asked: the onboarding's requestedBy. */
  requestedBy: string;
  requestedAt: string;
  expiresAt: string;
  /** Present only while waiting. */
  taskToken?: string;
  decision?: 'APPROVED' | 'REJECTED';
  decidedBy?: string;
  decidedAt?: string;
  reason?: string;
}

/** Where the records live: the DocumentClient and the table name. */
export interface RecordStore {
  ddb: DynamoDBDocumentClient;
  tableName: string;
}

/**
 * The one read the signer needs. The signer may back it with something smaller than the SDK's DocumentClient
 * (issue 12.9); everything else uses location-read-sdk.ts `documentClientReader`.
 */
export interface ItemReader {
  getItem(tableName: string, key: { pk: string; sk: string }, consistent: boolean): Promise<Record<string, unknown> | undefined>;
}
