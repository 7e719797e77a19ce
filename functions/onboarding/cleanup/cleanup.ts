/**
 * Cleanup: delete this execution's canaries, on the success path (before Activate) and on the failure path
 * (after RecordFailure). It NEVER throws: whatever goes wrong is reported in the returned summary, so it
 * can never hide the original error the Fail state carries.
 *
 * It finds the canaries from the context alone: the keys VerifyUpload returned, plus the two fixed canary
 * names, plus whatever a ListObjectsV2 of this execution's canary prefix shows (VerifyUpload may have
 * failed half-way and returned nothing). It touches nothing outside that prefix.
 *
 * Versioned buckets: a DeleteObject without a VersionId only adds a delete marker and the canary stays as a
 * noncurrent version. So Cleanup deletes each canary's versions (and markers) by VersionId, found with
 * ListObjectVersions on its prefix and from VerifyUpload's PutObject/Complete answers. That needs
 * s3:ListBucketVersions and s3:DeleteObjectVersion, which the customer guide's policy does NOT grant: without
 * them the canary is hidden behind a delete marker, its version remains (listed in `remaining`, with the
 * permission to add in `notes`), and Cleanup still does not throw. Object Lock retention also keeps versions.
 */
import type { S3ObjectsApi } from '#shared/s3-objects';
import { awsErrorName } from '#shared/errors';
import { canaryPrefix } from '#shared/identifiers';
import { awsMessage, canaryKeys, customerChain, type CustomerStorageDeps } from '#shared/canary';
import type { StepInput } from '#shared/records/workflow-context';

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
    const listed = await s3.listObjectsV2({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 });
    for (const o of listed.Contents ?? []) if (o.Key?.startsWith(prefix)) known.add(o.Key);
  } catch (err) {
    notes.push(`Listing ${prefix} failed (${awsErrorName(err)}); deleting the known canary names only.`);
  }

  const versions = await canaryVersions(s3, bucket, prefix, context, notes);
  for (const key of versions.keys()) known.add(key);

  const deleted: string[] = [];
  const remaining: string[] = [];
  let versionsLeft = false;
  for (const key of known) {
    const ids = [...(versions.get(key) ?? [])].filter((id) => id !== 'null');
    const left: string[] = [];
    for (const versionId of ids) {
      try {
        await s3.deleteObject({ Bucket: bucket, Key: key, VersionId: versionId });
      } catch (err) {
        left.push(versionId);
        notes.push(`DeleteObject ${key} version ${versionId}: ${awsErrorName(err)}: ${awsMessage(err)}`);
      }
    }
    if (ids.length > 0 && left.length === 0) {
      deleted.push(key);
      continue;
    }
    try {
      // Unversioned: this deletes the canary. Versioned, when a version could not be deleted: a delete marker
      // hides it. Deleting a key that does not exist succeeds (204), so a retried or half-run cleanup is harmless.
      const out = await s3.deleteObject({ Bucket: bucket, Key: key });
      if (out.DeleteMarker === true && left.length === 0) {
        // Versioned, and no version could be listed: the canary's version is still there, behind this marker.
        versionsLeft = true;
        remaining.push(`${key} (its versions, behind a delete marker)`);
      } else if (left.length === 0) deleted.push(key);
      else {
        versionsLeft = true;
        remaining.push(`${key} (version ${left.join(', ')}, behind a delete marker)`);
      }
    } catch (err) {
      remaining.push(left.length > 0 ? `${key} (version ${left.join(', ')})` : key);
      notes.push(`DeleteObject ${key}: ${awsErrorName(err)}: ${awsMessage(err)}`);
    }
  }
  if (versionsLeft) {
    notes.push(
      'Versioned bucket: deleting a canary version needs s3:DeleteObjectVersion (and finding versions s3:ListBucketVersions), which the guide\'s policy does not grant, ' +
        'or Object Lock retention still protects it. The versions listed in remaining are small and hidden by delete markers; a lifecycle rule expiring noncurrent versions removes them.',
    );
  }
  if (remaining.length > 0 && !versionsLeft) notes.push('The customer role needs s3:DeleteObject on the bucket; the remaining canaries are small and can be deleted by hand.');
  return { outcome: remaining.length > 0 ? 'incomplete' : 'cleaned', deleted, remaining, notes };
}

/**
 * Every version and delete marker under this execution's canary prefix, by key: from ListObjectVersions
 * (needs s3:ListBucketVersions; an unversioned bucket answers VersionId "null") and from the VersionIds
 * VerifyUpload recorded. A refused listing is noted, not thrown.
 */
async function canaryVersions(s3: S3ObjectsApi, bucket: string, prefix: string, ctx: StepInput, notes: string[]): Promise<Map<string, Set<string>>> {
  const byKey = new Map<string, Set<string>>();
  const add = (key: string | undefined, versionId: string | undefined) => {
    if (!key?.startsWith(prefix) || !versionId) return;
    const set = byKey.get(key) ?? new Set<string>();
    set.add(versionId);
    byKey.set(key, set);
  };
  const recorded = (ctx as { verifyUpload?: { canaries?: { key?: string; versionId?: string }[] } }).verifyUpload?.canaries ?? [];
  for (const c of Array.isArray(recorded) ? recorded : []) add(c?.key, c?.versionId);
  try {
    const out = await s3.listObjectVersions({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 });
    for (const v of out.Versions ?? []) add(v.Key, v.VersionId);
    for (const m of out.DeleteMarkers ?? []) add(m.Key, m.VersionId);
  } catch (err) {
    if (byKey.size > 0) notes.push(`ListObjectVersions on ${prefix} failed (${awsErrorName(err)}): deleting the versions VerifyUpload recorded only.`);
  }
  return byKey;
}
