/**
 * What the three verification steps (VerifyUpload, VerifyDownload, Cleanup) share: where this execution's
 * canary objects live, how the steps reach the customer's bucket, and how checks are recorded.
 *
 * Canaries live under `<prefix>.peridio-verification/<executionName>/` (identifiers.ts `canaryPrefix`), so
 * an execution only ever touches its own objects and Cleanup can find them again from the context alone,
 * even when VerifyUpload failed half-way and returned nothing.
 */
import { createHash } from 'node:crypto';
import type { CheckResult, ConfigStatus, ExecutionRef, RecordStore } from './records/model';
import type { StepInput } from './records/workflow-context';
import { recordChecks, setPendingStatus } from './records/pending-writes';
import type { AwsCredentials, CustomerChain } from './credential-broker';
import { canaryPrefix, externalIdFor, roleSessionName } from './identifiers';
import type { S3ObjectsApi } from './s3-objects';

/** The two canaries of an execution: one plain PutObject, one completed multipart upload. */
export function canaryKeys(ctx: Pick<StepInput, 'upload' | 'executionName'>): { single: string; multipart: string } {
  const base = canaryPrefix(ctx.upload.prefix, ctx.executionName);
  return { single: `${base}single-put.bin`, multipart: `${base}multipart.bin` };
}

/** One canary as VerifyUpload wrote it: VerifyDownload compares the downloaded bytes with it. */
export interface CanaryObject {
  key: string;
  bytes: number;
  sha256: string;
  /** The version S3 gave the canary, on a versioned bucket: Cleanup deletes exactly this version. */
  versionId?: string;
}

/** VerifyUpload's result, at `$.verifyUpload`. */
export interface VerifyUploadResult {
  canaryKeys: string[];
  canaries: CanaryObject[];
}

export function sha256Hex(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The Content-MD5 header value (base64 MD5) S3 checks the body against. */
export function contentMd5(body: Uint8Array): string {
  return createHash('md5').update(body).digest('base64');
}

/** The KMS action an S3 AccessDenied message names (`kms:GenerateDataKey`, `kms:Decrypt`, ...), if any. */
export function kmsActionIn(message: string): string | undefined {
  return /kms:[A-Za-z*]+/.exec(message)?.[0];
}

/** The KMS key ARN an S3 AccessDenied message names, if any. */
export function kmsKeyIn(message: string): string | undefined {
  return /arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+/.exec(message)?.[0];
}

/** The chain to the customer's role for this execution, with ExternalId = org ID. */
export function customerChain(ctx: StepInput, purpose: string): CustomerChain {
  return {
    platformRoleArn: ctx.platformRoleArn,
    customerRoleArn: ctx.upload.roleArn,
    externalId: externalIdFor(ctx.orgId),
    sessionName: roleSessionName(purpose),
  };
}

/** How a step reaches the customer's bucket. Injected so tests use mocks and the local stack uses its S3. */
export interface CustomerStorageDeps {
  /** The customer's credentials through the platform role (CredentialBroker.customerCredentials). */
  customerCredentials: (chain: CustomerChain) => Promise<AwsCredentials>;
  /**
   * The S3 calls for a region and credentials: s3-objects.ts `s3ObjectsClient` (signed fetch, no S3Client:
   * issue 12.9's bundle budget); tests adapt an SDK S3Client (test/unit/helpers/sdk-s3-objects.ts).
   */
  s3: (region: string, credentials: AwsCredentials) => S3ObjectsApi;
  clock: () => Date;
}

/** The record writes the verify steps make. An interface so unit tests can capture them without DynamoDB. */
export interface CheckRecorder {
  recordChecks(ref: ExecutionRef, checks: CheckResult[], now: Date): Promise<unknown>;
  setStatus(ref: ExecutionRef, status: ConfigStatus, now: Date): Promise<void>;
}

/** The recorder backed by the org record (records/pending-writes.ts): conditioned on this execution owning the config. */
export function recorderFor(store: RecordStore): CheckRecorder {
  return {
    recordChecks: (ref, checks, now) => recordChecks(store, ref, checks, now),
    setStatus: (ref, status, now) => setPendingStatus(store, ref, status, { now }),
  };
}

export function executionRef(ctx: StepInput): ExecutionRef {
  return { orgId: ctx.orgId, roleName: ctx.roleName, executionArn: ctx.executionArn };
}

/** The HTTP headers of a failed S3 call (SDK or s3-objects.ts), lower-cased (S3 puts `x-amz-bucket-region` there). */
export function responseHeaders(err: unknown): Record<string, string> {
  const raw = (err as { $response?: { headers?: Record<string, string> } } | undefined)?.$response?.headers ?? {};
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

/** True for S3's access-denied answers (named, or a bare 403 on a HEAD, which has no body to name it). */
export function isAccessDenied(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'AccessDenied' || e?.name === 'Forbidden' || e?.$metadata?.httpStatusCode === 403;
}

/** The AWS message of an error, shortened: AccessDenied messages name the action, which helps support. */
export function awsMessage(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.length > 300 ? `${m.slice(0, 297)}...` : m;
}
