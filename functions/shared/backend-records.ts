/**
 * The org's record in DynamoDB: one item per org holds its routing and all its backends, so every
 * change (activation included) is one conditional UpdateItem, atomic without transactions (dynalite,
 * the local DynamoDB, has no TransactWriteItems), and the signer needs one GetItem per org.
 *
 *   pk "ORG#<orgId>"  sk "BACKENDS"                                   the OrgRecord below
 *   pk "ORG#<orgId>"  sk "EVENT#<executionName>#<step>#<attempt>"     audit trail (AuditEvent)
 *
 * Nothing secret is ever stored here: CloudFront keys are referenced by Secrets Manager ARN (+ version).
 */
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { asTransientOr } from './errors';

export type ConfigStatus = 'PENDING' | 'AWAITING_TRUST' | 'VERIFYING' | 'VERIFIED' | 'ACTIVE' | 'FAILED' | 'ABANDONED';

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
  error?: ConfigError;
  createdAt: string;
  updatedAt: string;
  activatedAt?: string;
}

/** The starter's claim on a backend between StartExecution and RecordConfig, used for dedupe. */
export interface InflightClaim {
  executionName: string;
  executionArn: string;
  /** sha256 of the normalised request (without requestedBy): the same request twice is a double submit. */
  requestHash: string;
  configVersion: number;
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

export const ORG_SK = 'BACKENDS' as const;

export function orgPk(orgId: string): string {
  return `ORG#${orgId}`;
}

export function auditSk(executionName: string, step: string, attempt: number): string {
  return `EVENT#${executionName}#${step}#${attempt}`;
}

/** The org's record, or undefined if the org never onboarded. Throws TransientError on throttling. */
export async function getOrgRecord(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  orgId: string,
  consistent = true,
): Promise<OrgRecord | undefined> {
  try {
    const out = await ddb.send(
      new GetCommand({ TableName: tableName, Key: { pk: orgPk(orgId), sk: ORG_SK }, ConsistentRead: consistent }),
    );
    return out.Item as OrgRecord | undefined;
  } catch (err) {
    throw asTransientOr(err, 'DynamoDB GetItem');
  }
}

/** The backend whose name equals `roleName` ignoring case (IAM role names are case-insensitive). */
export function findBackendIgnoringCase(record: OrgRecord | undefined, roleName: string): Backend | undefined {
  if (!record) return undefined;
  const lower = roleName.toLowerCase();
  return Object.values(record.backends ?? {}).find((b) => b.roleName.toLowerCase() === lower);
}
