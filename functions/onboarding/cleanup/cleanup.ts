/**
 * Cleanup: delete this execution's canaries, on the success path (before Activate) and on the failure path
 * (after RecordFailure). It NEVER throws: whatever goes wrong is reported in the returned summary, so it
 * can never hide the original error the Fail state carries.
 *
 * It finds the canaries from the context alone: the keys VerifyUpload returned, plus the two fixed canary
 * names, plus whatever a ListObjectsV2 of this execution's canary prefix shows (VerifyUpload may have
 * failed half-way and returned nothing). It touches nothing outside that prefix.
 */
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { awsErrorName } from '../../shared/errors';
import { canaryPrefix } from '../../shared/identifiers';
import { awsMessage, canaryKeys, customerChain, type CustomerStorageDeps } from '../verify-upload/canary';
import type { StepInput } from '../../shared/backend-records';

export type CleanupDeps = CustomerStorageDeps;

export interface CleanupResult {
  /** `cleaned`: every canary is gone; `skipped`: nothing could have been written; `incomplete`: see `remaining`. */
  outcome: 'cleaned' | 'skipped' | 'incomplete';
  deleted: string[];
  /** Canaries that may still exist (a delete failed). */
  remaining: string[];
  /** Why it skipped or what went wrong: error names and AWS messages, never credentials. */
  notes: string[];
}

/** Deletes this execution's canaries. Never throws; see the module comment. */
export async function cleanup(input: unknown, deps: CleanupDeps): Promise<CleanupResult> {
  try {
    return await cleanupOrThrow(input as Partial<StepInput> | null, deps);
  } catch (err) {
    return { outcome: 'incomplete', deleted: [], remaining: [], notes: [`Cleanup failed unexpectedly: ${awsErrorName(err) || 'Error'}: ${awsMessage(err)}`] };
  }
}

async function cleanupOrThrow(input: Partial<StepInput> | null, deps: CleanupDeps): Promise<CleanupResult> {
  const skipped = (note: string): CleanupResult => ({ outcome: 'skipped', deleted: [], remaining: [], notes: [note] });
  const ctx: Partial<StepInput> = input && typeof input === 'object' ? input : {};
  if (!ctx.upload?.bucket || !ctx.upload.region || !ctx.upload.roleArn || !ctx.executionName || !ctx.platformRoleArn || !ctx.orgId) {
    return skipped('The onboarding stopped before the platform role existed: no canary was written.');
  }
  // Canaries are written only after CheckTrust saw a working trust. Without it there is nothing to delete,
  // and the customer role could not be assumed anyway (e.g. the trust policy never arrived).
  if (ctx.trust?.trusted !== true) {
    return skipped('Trust was never established: no canary was written.');
  }
  const context = ctx as StepInput;
  const prefix = canaryPrefix(context.upload.prefix, context.executionName);
  const fixed = canaryKeys(context);
  const known = new Set<string>([fixed.single, fixed.multipart, ...(context.verifyUpload?.canaryKeys ?? [])].filter((k) => k.startsWith(prefix)));

  let credentials;
  try {
    credentials = await deps.customerCredentials(customerChain(context, 'cleanup'));
  } catch (err) {
    return {
      outcome: 'incomplete',
      deleted: [],
      remaining: [...known],
      notes: [`Could not assume the customer role to delete canaries: ${awsErrorName(err)}: ${awsMessage(err)}`],
    };
  }
  const s3 = deps.s3(context.upload.region, credentials);
  const bucket = context.upload.bucket;
  const notes: string[] = [];

  try {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }));
    for (const o of listed.Contents ?? []) if (o.Key?.startsWith(prefix)) known.add(o.Key);
  } catch (err) {
    notes.push(`Listing ${prefix} failed (${awsErrorName(err)}); deleting the known canary names only.`);
  }

  const deleted: string[] = [];
  const remaining: string[] = [];
  for (const key of known) {
    try {
      // Deleting a key that does not exist succeeds (204), so a retried or half-run cleanup is harmless.
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      deleted.push(key);
    } catch (err) {
      remaining.push(key);
      notes.push(`DeleteObject ${key}: ${awsErrorName(err)}: ${awsMessage(err)}`);
    }
  }
  if (remaining.length > 0) notes.push('The customer role needs s3:DeleteObject on the bucket; the remaining canaries are small and can be deleted by hand.');
  return { outcome: remaining.length > 0 ? 'incomplete' : 'cleaned', deleted, remaining, notes };
}
