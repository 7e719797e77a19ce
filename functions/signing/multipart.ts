/**
 * Multipart uploads: start (CreateMultipartUpload, then one presigned UploadPart URL per part, in pages when
 * asked: docs/signer.md "Multipart in pages"), complete and abort, with S3's errors mapped to named ones.
 * The three S3 calls go through s3-multipart.ts (SigV4-signed fetch, no S3Client) or what the deps give.
 */
import type { AwsCredentials } from '#shared/credential-broker';
import { BinaryBackendError, StoragePermissionError, ValidationError, asTransientOr, awsErrorName, httpStatus } from '#shared/errors';
import type { S3MultipartApi } from '#shared/s3-multipart';
import { s3Presigner } from '#shared/url-signers';
import { checkPrefixedKeys, type MultipartAbortRequest, type MultipartCompleteRequest, type MultipartStartRequest } from './request';
import { responseFor, type SignResponse, type SignedUrl } from './response';
import type { Route } from './routing';
import { MAX_RESPONSE_BYTES, s3Ttl } from './ttl-rules';

export interface MultipartDeps {
  clock: () => Date;
  /** Credentials for S3 on a route (credentials.ts `credentialsFor`). */
  credentials: (orgId: string, route: Route) => Promise<AwsCredentials>;
  /** The multipart calls for a region and credentials (memoised by `s3ClientCache`). */
  s3: (region: string, credentials: AwsCredentials) => S3MultipartApi;
}

/** Memoises `make` per credentials (weakly: credentials the broker dropped take their clients with them) and region. */
export function s3ClientCache(
  make: (region: string, credentials: AwsCredentials) => S3MultipartApi,
): (region: string, credentials: AwsCredentials) => S3MultipartApi {
  const clients = new WeakMap<AwsCredentials, Map<string, S3MultipartApi>>();
  return (region, credentials) => {
    let byRegion = clients.get(credentials);
    if (!byRegion) clients.set(credentials, (byRegion = new Map()));
    let client = byRegion.get(region);
    if (!client) byRegion.set(region, (client = make(region, credentials)));
    return client;
  };
}

/** Maps an S3 error of a multipart call to a named error. */
export function s3Failure(err: unknown, route: Route, field: string, what: string): unknown {
  if (err instanceof BinaryBackendError) return err;
  const name = awsErrorName(err);
  if (name === 'NoSuchUpload') {
    return new ValidationError(`uploadId: no such multipart upload for this key (already completed or aborted?)`, ['uploadId'], {
      cause: err,
    });
  }
  if (name === 'InvalidPart' || name === 'InvalidPartOrder' || name === 'EntityTooSmall') {
    return new ValidationError(`${field}: S3 refused the parts (${name}): ${(err as Error).message}`, [field], { cause: err });
  }
  if (name === 'AccessDenied' || httpStatus(err) === 403) {
    const who = route.storage === 'custom' ? `the customer role ${route.customerRoleArn}` : 'the default storage signer role';
    return new StoragePermissionError(`${what} was denied for ${who} on bucket ${route.bucket}`, { cause: err });
  }
  return asTransientOr(err, `S3 ${what}`);
}

/** CreateMultipartUpload (unless a later page names its uploadId), then the part URLs that fit one response. */
export async function multipartStart(deps: MultipartDeps, req: MultipartStartRequest, route: Route): Promise<SignResponse> {
  checkPrefixedKeys(route.prefix, [req.key], () => 'key');
  const credentials = await deps.credentials(req.orgId, route);
  const nowSec = Math.floor(deps.clock().getTime() / 1000);
  const { ttl, clamped } = s3Ttl(req.ttlSeconds, credentials, nowSec);
  const now = new Date(nowSec * 1000);
  const objectKey = route.prefix + req.key;
  const presign = await s3Presigner({ credentials, region: route.region, bucket: route.bucket });
  // How many part URLs fit in one Lambda response, from a sample with the widest part number and a
  // generous upload ID (S3's are ~100-200 characters): decided before anything is created.
  const sample = await presign({
    key: objectKey,
    method: 'PUT',
    expiresInSeconds: ttl,
    now,
    extraQuery: { partNumber: String(req.parts), uploadId: req.uploadId ?? 'x'.repeat(256) },
  });
  // Per part: the URL, the key as JSON, and ~140 bytes of the entry's other fields (as before paging, so
  // every request that fitted then still fits).
  const perPart = sample.length + Buffer.byteLength(JSON.stringify(req.key), 'utf8') + 140;
  const fit = Math.max(1, Math.floor(MAX_RESPONSE_BYTES / perPart));
  const paged = req.firstPart !== undefined;
  if (!paged && req.parts > fit) {
    throw new ValidationError(
      `parts: ${req.parts} part URLs (~${Math.round((perPart * req.parts) / 1e6)} MB) exceed Lambda's 6 MB response limit; ` +
        `at most about ${fit} fit in one response with these credentials. Ask for them in pages: send firstPart: 1, ` +
        `then uploadId and firstPart: nextPart until no nextPart is returned (or use bigger parts)`,
      ['parts'],
    );
  }
  const first = req.firstPart ?? 1;
  const last = Math.min(req.parts, first + fit - 1);
  let uploadId: string;
  if (req.uploadId !== undefined) {
    uploadId = req.uploadId;
  } else {
    try {
      const created = await deps.s3(route.region, credentials).createMultipartUpload({ Bucket: route.bucket, Key: objectKey });
      if (!created.UploadId) throw new Error('CreateMultipartUpload answered without an UploadId');
      uploadId = created.UploadId;
    } catch (err) {
      throw s3Failure(err, route, 'key', 'CreateMultipartUpload');
    }
  }
  const expiresAt = new Date((nowSec + ttl) * 1000).toISOString();
  const urls: SignedUrl[] = new Array(last - first + 1);
  for (let part = first; part <= last; part++) {
    urls[part - first] = {
      key: req.key,
      partNumber: part,
      url: await presign({ key: objectKey, method: 'PUT', expiresInSeconds: ttl, now, extraQuery: { partNumber: String(part), uploadId } }),
      method: 'PUT',
      headers: {},
      expiresAt,
    };
  }
  const out = responseFor(route, 's3');
  out.key = req.key;
  out.uploadId = uploadId;
  out.ttlSeconds = ttl;
  if (clamped) out.clamped = true;
  out.urls = urls;
  if (last < req.parts) out.nextPart = last + 1;
  return out;
}

/** CompleteMultipartUpload with the parts sorted by number. */
export async function multipartComplete(deps: MultipartDeps, req: MultipartCompleteRequest, route: Route): Promise<SignResponse> {
  checkPrefixedKeys(route.prefix, [req.key], () => 'key');
  const credentials = await deps.credentials(req.orgId, route);
  const parts = [...req.parts].sort((a, b) => a.partNumber - b.partNumber);
  let etag: string | undefined;
  try {
    const done = await deps.s3(route.region, credentials).completeMultipartUpload({
      Bucket: route.bucket,
      Key: route.prefix + req.key,
      UploadId: req.uploadId,
      MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
    });
    etag = done.ETag;
  } catch (err) {
    throw s3Failure(err, route, 'parts', 'CompleteMultipartUpload');
  }
  const out = responseFor(route, 's3');
  out.key = req.key;
  out.uploadId = req.uploadId;
  if (etag) out.etag = etag;
  return out;
}

/**
 * AbortMultipartUpload. Only default storage is guaranteed s3:AbortMultipartUpload: the seed's customer
 * policy lacks it, so on a custom backend this may end in StoragePermissionError (S3 then removes the parts
 * per the bucket's lifecycle rule, if the customer has one).
 */
export async function multipartAbort(deps: MultipartDeps, req: MultipartAbortRequest, route: Route): Promise<SignResponse> {
  checkPrefixedKeys(route.prefix, [req.key], () => 'key');
  const credentials = await deps.credentials(req.orgId, route);
  try {
    await deps.s3(route.region, credentials).abortMultipartUpload({ Bucket: route.bucket, Key: route.prefix + req.key, UploadId: req.uploadId });
  } catch (err) {
    throw s3Failure(err, route, 'uploadId', 'AbortMultipartUpload');
  }
  const out = responseFor(route, 's3');
  out.key = req.key;
  out.uploadId = req.uploadId;
  out.aborted = true;
  return out;
}
