/**
 * VerifyUpload: with the customer's own role, prove that Peridio can store binaries in the bucket exactly
 * the way the upload pipeline will.
 *
 * 1. bucket-region: HeadBucket WITHOUT ExpectedBucketOwner. A bucket in another region answers 301 (the SDK
 *    names it `Unknown`, since a HEAD has no body) with the real region in `x-amz-bucket-region`.
 * 2. bucket-owner: HeadBucket WITH ExpectedBucketOwner = the account in the role ARN (403 = someone else's).
 * 3. canary-put: a single PutObject under this execution's canary prefix. Every canary write carries
 *    Content-MD5: S3 requires it (or an x-amz-checksum) on PUTs to a bucket with Object Lock default
 *    retention, and it costs nothing elsewhere. A versioned bucket's VersionId is kept for Cleanup.
 * 4. canary-multipart: a multipart upload that is COMPLETED. The seed's customer policy grants no
 *    s3:AbortMultipartUpload, so the step never relies on aborting: a failed part is retried, and only if
 *    that fails too is an abort attempted as a best effort (see `uploadMultipartCanary`).
 * 5. canary-list: ListObjectsV2 on the canary prefix shows both canaries.
 *
 * Every check is recorded PASS/FAIL/SKIP with a message and a fix. The first failing check throws a named
 * terminal error (caught by the state machine); throttling and 5xx throw TransientError (retried).
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { S3ObjectsApi } from '#shared/s3-objects';
import type { CheckResult } from '#shared/records/model';
import type { StepInput } from '#shared/records/workflow-context';
import {
  AssumeRoleDeniedError,
  BinaryBackendError,
  BucketNotFoundError,
  BucketOwnerMismatchError,
  BucketObjectLockError,
  BucketWrongRegionError,
  KmsPermissionError,
  StoragePermissionError,
  StsInvalidClientTokenError,
  StsRegionDisabledError,
  TransientError,
  asTransientOr,
  remediationFor,
  awsErrorName,
  httpStatus,
  isTransientAwsError,
} from '#shared/errors';
import {
  awsMessage,
  canaryKeys,
  contentMd5,
  customerChain,
  executionRef,
  isAccessDenied,
  kmsActionIn,
  kmsKeyIn,
  responseHeaders,
  sha256Hex,
  type CanaryObject,
  type CheckRecorder,
  type CustomerStorageDeps,
  type VerifyUploadResult,
} from '#shared/canary';

export interface VerifyUploadDeps extends CustomerStorageDeps {
  records: CheckRecorder;
  /** Canary contents; injected so tests can pin them. */
  randomBytes?: (size: number) => Buffer;
}

/** Canary sizes: small, so verification is cheap; one part is enough to prove Create/UploadPart/Complete. */
export const SINGLE_CANARY_BYTES = 4096;
export const MULTIPART_CANARY_BYTES = 8192;

export const UPLOAD_CHECKS = ['bucket-region', 'bucket-owner', 'canary-put', 'canary-multipart', 'canary-list'] as const;
type UploadCheck = (typeof UPLOAD_CHECKS)[number];

const FIX = {
  region: 'Start the onboarding again with the region the message names.',
  notFound: 'Check the bucket name with the customer; it does not exist or has a typo.',
  owner: 'Ask the customer for a role in the AWS account that owns the bucket, or the bucket in the role\'s account.',
  list: 'Grant the role s3:ListBucket on arn:aws:s3:::<bucket> (the guide\'s bucket policy), without a prefix condition that hides .peridio-verification/.',
  put: 'Grant the role s3:PutObject on arn:aws:s3:::<bucket>/* (the guide\'s bucket policy); for an SSE-KMS bucket also kms:GenerateDataKey and kms:Decrypt on the key.',
} as const;

/** A failed check: what to record and what to throw. */
class CheckFailure extends Error {
  constructor(
    readonly check: UploadCheck | 'customer-role',
    readonly error: BinaryBackendError,
    readonly fix: string,
  ) {
    super(error.message);
  }
}

/**
 * Runs the upload checks against the customer's bucket. Returns the canary keys and digests for
 * VerifyDownload and Cleanup. Throws BucketWrongRegionError, BucketNotFoundError, BucketOwnerMismatchError,
 * StoragePermissionError, AssumeRoleDeniedError (trust withdrawn since CheckTrust), StaleExecutionError
 * (another execution took over), or TransientError.
 */
export async function verifyUpload(ctx: StepInput, deps: VerifyUploadDeps): Promise<VerifyUploadResult> {
  const { bucket, region, accountId } = ctx.upload;
  const passed: CheckResult[] = [];
  const at = () => deps.clock().toISOString();
  const pass = (name: UploadCheck, message: string) => passed.push({ name, result: 'PASS', message, at: at() });

  let credentials;
  try {
    credentials = await deps.customerCredentials(customerChain(ctx, 'verify-upload'));
  } catch (err) {
    if (err instanceof AssumeRoleDeniedError) {
      await recordFailure(ctx, deps, passed, new CheckFailure('customer-role', err, 'Ask the customer to re-apply the trust policy (binary-backends trust-policy), then start a new onboarding.'));
    } else if (err instanceof StsRegionDisabledError || err instanceof StsInvalidClientTokenError) {
      await recordFailure(ctx, deps, passed, new CheckFailure('customer-role', err, remediationFor(err.name)));
    }
    throw err;
  }
  const s3 = deps.s3(region, credentials);
  const keys = canaryKeys(ctx);
  const random = deps.randomBytes ?? nodeRandomBytes;

  try {
    await checkBucketRegion(s3, bucket, region);
    pass('bucket-region', `Bucket ${bucket} exists in ${region}.`);

    await checkBucketOwner(s3, bucket, accountId);
    pass('bucket-owner', `Bucket ${bucket} is owned by account ${accountId}, the role's account.`);

    const single = random(SINGLE_CANARY_BYTES);
    const singleVersion = await putCanary(s3, bucket, keys.single, single);
    pass('canary-put', `Put ${keys.single} (${single.length} bytes).`);

    const multi = random(MULTIPART_CANARY_BYTES);
    const multiVersion = await uploadMultipartCanary(s3, bucket, keys.multipart, multi);
    pass('canary-multipart', `Completed a multipart upload of ${keys.multipart} (${multi.length} bytes).`);

    await listCanaries(s3, bucket, [keys.single, keys.multipart]);
    pass('canary-list', `Listed both canaries under ${keys.single.slice(0, keys.single.lastIndexOf('/') + 1)}.`);

    await deps.records.recordChecks(executionRef(ctx), passed, deps.clock());
    const canaries: CanaryObject[] = [
      { key: keys.single, bytes: single.length, sha256: sha256Hex(single), ...(singleVersion ? { versionId: singleVersion } : {}) },
      { key: keys.multipart, bytes: multi.length, sha256: sha256Hex(multi), ...(multiVersion ? { versionId: multiVersion } : {}) },
    ];
    return { canaryKeys: canaries.map((c) => c.key), canaries };
  } catch (err) {
    if (err instanceof CheckFailure) {
      await recordFailure(ctx, deps, passed, err);
      throw err.error;
    }
    throw asTransientOr(err, 'VerifyUpload');
  }
}

/** Records the passed checks, the failed one and a SKIP for each check that did not run, then returns. */
async function recordFailure(ctx: StepInput, deps: VerifyUploadDeps, passed: CheckResult[], failure: CheckFailure): Promise<void> {
  const at = deps.clock().toISOString();
  const ran = new Set([...passed.map((c) => c.name), failure.check]);
  const checks: CheckResult[] = [
    ...passed,
    { name: failure.check, result: 'FAIL', message: `${failure.error.name}: ${failure.error.message}`, fix: failure.fix, at },
    ...UPLOAD_CHECKS.filter((c) => !ran.has(c)).map(
      (name): CheckResult => ({ name, result: 'SKIP', message: `Not run: ${failure.check} failed first.`, at }),
    ),
  ];
  // The verification error is what the operator needs; a failure to record it must not replace it.
  await deps.records.recordChecks(executionRef(ctx), checks, deps.clock()).catch(() => undefined);
}

/** Throttling and 5xx go up as TransientError (the step is retried); everything else becomes `fail()`. */
function transientOr(err: unknown, context: string, fail: () => CheckFailure): unknown {
  if (err instanceof BinaryBackendError) return err;
  if (isTransientAwsError(err)) return new TransientError(`${context} failed transiently: ${awsErrorName(err)}: ${awsMessage(err)}`, { cause: err });
  return fail();
}

async function checkBucketRegion(s3: S3ObjectsApi, bucket: string, region: string): Promise<void> {
  try {
    await s3.headBucket({ Bucket: bucket });
  } catch (err) {
    const status = httpStatus(err);
    const realRegion = responseHeaders(err)['x-amz-bucket-region'];
    throw transientOr(err, 'HeadBucket', () => {
      if (realRegion && realRegion !== region && (status === 301 || status === 400 || awsErrorName(err) === 'Unknown' || awsErrorName(err) === 'PermanentRedirect')) {
        return new CheckFailure(
          'bucket-region',
          new BucketWrongRegionError(`Bucket ${bucket} is in ${realRegion}, not ${region} as given`, { cause: err }),
          `${FIX.region} (${realRegion})`,
        );
      }
      if (status === 301) {
        return new CheckFailure(
          'bucket-region',
          new BucketWrongRegionError(`Bucket ${bucket} is not in ${region} (S3 answered 301 without naming the region)`, { cause: err }),
          FIX.region,
        );
      }
      if (status === 404 || awsErrorName(err) === 'NotFound' || awsErrorName(err) === 'NoSuchBucket') {
        return new CheckFailure('bucket-region', new BucketNotFoundError(`Bucket ${bucket} does not exist`, { cause: err }), FIX.notFound);
      }
      if (isAccessDenied(err)) {
        return new CheckFailure(
          'bucket-region',
          new StoragePermissionError(
            `HeadBucket on ${bucket} was denied: the customer role lacks s3:ListBucket on arn:aws:s3:::${bucket} ` +
              '(or the bucket belongs to an account that does not grant it)',
            { cause: err },
          ),
          FIX.list,
        );
      }
      return new CheckFailure(
        'bucket-region',
        new StoragePermissionError(`HeadBucket on ${bucket} failed: ${awsErrorName(err)} (HTTP ${status ?? '?'})`, { cause: err }),
        FIX.list,
      );
    });
  }
}

async function checkBucketOwner(s3: S3ObjectsApi, bucket: string, accountId: string): Promise<void> {
  try {
    await s3.headBucket({ Bucket: bucket, ExpectedBucketOwner: accountId });
  } catch (err) {
    throw transientOr(err, 'HeadBucket with ExpectedBucketOwner', () =>
      isAccessDenied(err)
        ? new CheckFailure(
            'bucket-owner',
            new BucketOwnerMismatchError(`Bucket ${bucket} is not owned by account ${accountId} (the account in the role ARN)`, { cause: err }),
            FIX.owner,
          )
        : new CheckFailure(
            'bucket-owner',
            new BucketOwnerMismatchError(`Could not confirm that account ${accountId} owns ${bucket}: ${awsErrorName(err)} (HTTP ${httpStatus(err) ?? '?'})`, { cause: err }),
            FIX.owner,
          ),
    );
  }
}

function writeFailure(check: UploadCheck, bucket: string, key: string, operation: string, err: unknown): CheckFailure {
  if (awsErrorName(err) === 'NoSuchBucket') {
    return new CheckFailure(check, new BucketNotFoundError(`Bucket ${bucket} no longer exists (${operation})`, { cause: err }), FIX.notFound);
  }
  const message = awsMessage(err);
  const kmsAction = isAccessDenied(err) ? kmsActionIn(message) : undefined;
  if (kmsAction) {
    const keyArn = kmsKeyIn(message);
    return new CheckFailure(
      check,
      new KmsPermissionError(
        `${operation} of ${key} in ${bucket} was denied by KMS: the customer role needs ${kmsAction} on the bucket's key ${keyArn ?? '(named in the bucket\'s default encryption)'}`,
        { cause: err },
      ),
      `Allow ${kmsAction} on ${keyArn ?? 'the bucket\'s KMS key'} in the customer role's policy (and the key policy), then retry.`,
    );
  }
  if (/Object Lock/i.test(message) && !isAccessDenied(err)) {
    return new CheckFailure(
      check,
      new BucketObjectLockError(`${operation} of ${key} in ${bucket} was refused because the bucket has S3 Object Lock: ${awsErrorName(err)}: ${message}`, { cause: err }),
      'Check the bucket\'s Object Lock configuration with the customer; Peridio already sends a checksum with every write.',
    );
  }
  const permission = 's3:PutObject';
  const what = isAccessDenied(err) ? 'was denied' : `failed with ${awsErrorName(err)} (HTTP ${httpStatus(err) ?? '?'})`;
  return new CheckFailure(
    check,
    new StoragePermissionError(`${operation} of ${key} in ${bucket} ${what}: the customer role needs ${permission}`, { cause: err }),
    FIX.put,
  );
}

/** Puts the canary with Content-MD5; returns its VersionId on a versioned bucket. */
async function putCanary(s3: S3ObjectsApi, bucket: string, key: string, body: Buffer): Promise<string | undefined> {
  try {
    const out = await s3.putObject({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/octet-stream', ContentMD5: contentMd5(body) });
    return out.VersionId;
  } catch (err) {
    throw transientOr(err, 'PutObject', () => writeFailure('canary-put', bucket, key, 'PutObject', err));
  }
}

/**
 * Create, one part, Complete. A part that fails is retried once (s3-objects.ts has already retried transient
 * errors). If it still fails, nothing can be completed (S3 refuses a Complete with no parts), so an abort
 * is attempted as a best effort: the seed's policy does not grant it, and when it is denied the incomplete
 * upload stays invisible in the bucket until a lifecycle rule (AbortIncompleteMultipartUpload) removes it.
 */
async function uploadMultipartCanary(s3: S3ObjectsApi, bucket: string, key: string, body: Buffer): Promise<string | undefined> {
  let uploadId: string | undefined;
  try {
    const created = await s3.createMultipartUpload({ Bucket: bucket, Key: key, ContentType: 'application/octet-stream' });
    uploadId = created.UploadId;
    if (!uploadId) throw new TransientError(`CreateMultipartUpload for ${key} answered without an UploadId`);
  } catch (err) {
    throw transientOr(err, 'CreateMultipartUpload', () => writeFailure('canary-multipart', bucket, key, 'CreateMultipartUpload', err));
  }
  let etag: string | undefined;
  let partError: unknown;
  for (let attempt = 0; attempt < 2 && etag === undefined; attempt += 1) {
    try {
      const part = await s3.uploadPart({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: 1, Body: body, ContentMD5: contentMd5(body) });
      etag = part.ETag;
      if (!etag) partError = new TransientError(`UploadPart for ${key} answered without an ETag`);
    } catch (err) {
      partError = err;
    }
  }
  if (etag === undefined) {
    await s3.abortMultipartUpload({ Bucket: bucket, Key: key, UploadId: uploadId }).catch(() => undefined);
    throw transientOr(partError, 'UploadPart', () => writeFailure('canary-multipart', bucket, key, 'UploadPart', partError));
  }
  try {
    const done = await s3.completeMultipartUpload({
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: etag }] },
    });
    return done.VersionId;
  } catch (err) {
    await s3.abortMultipartUpload({ Bucket: bucket, Key: key, UploadId: uploadId }).catch(() => undefined);
    throw transientOr(err, 'CompleteMultipartUpload', () => writeFailure('canary-multipart', bucket, key, 'CompleteMultipartUpload', err));
  }
}

async function listCanaries(s3: S3ObjectsApi, bucket: string, keys: string[]): Promise<void> {
  const prefix = keys[0]!.slice(0, keys[0]!.lastIndexOf('/') + 1);
  let listed: string[];
  try {
    const out = await s3.listObjectsV2({ Bucket: bucket, Prefix: prefix, MaxKeys: 100 });
    listed = (out.Contents ?? []).map((o) => o.Key ?? '');
  } catch (err) {
    throw transientOr(err, 'ListObjectsV2', () =>
      new CheckFailure(
        'canary-list',
        new StoragePermissionError(
          `ListObjectsV2 on ${bucket} (prefix ${prefix}) ${isAccessDenied(err) ? 'was denied' : `failed with ${awsErrorName(err)}`}: the customer role needs s3:ListBucket`,
          { cause: err },
        ),
        FIX.list,
      ),
    );
  }
  const missing = keys.filter((k) => !listed.includes(k));
  if (missing.length > 0) {
    throw new CheckFailure(
      'canary-list',
      new StoragePermissionError(`ListObjectsV2 on ${bucket} did not show ${missing.join(', ')}: the customer role's s3:ListBucket hides the canary prefix`),
      FIX.list,
    );
  }
}
