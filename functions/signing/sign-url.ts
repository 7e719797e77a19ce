/**
 * The URL signer's domain (DESIGN "Signing", a contract). Internal services ask for download, upload and
 * multipart URLs for keys relative to an org; the signer routes the org (routing.ts), signs, and says
 * when each URL *really* stops working.
 *
 * TTL rules, and why:
 * - S3 URLs are signed with assumed-role credentials whose expiry is known (custom: function role ->
 *   platform role -> customer role with ExternalId = orgId; default storage: a signer role). A presigned
 *   URL dies with the credentials that signed it, and role chaining caps those sessions at one hour, so
 *   TTL = min(request or 900 s, session time left). A longer request is clamped, `expiresAt` shows the
 *   real end and `clamped: true` says it happened. Credentials are refreshed once fewer than
 *   CREDENTIAL_REFRESH_THRESHOLD_SECONDS (900) are left, so a fresh URL always gets at least that long
 *   and a burst never triggers an AssumeRole per call.
 * - CloudFront URLs involve no AWS credentials: TTL = request, else the config's ttlSeconds, else 3600,
 *   within 60 s to 7 days.
 *
 * Steady state makes no network call per URL: the route, the credentials, the S3 endpoint and the parsed
 * CloudFront key are all cached (docs/signer.md gives each cache's lifetime).
 */
import type { KeyObject } from 'node:crypto';
import { cloudFrontKeyStats, loadCloudFrontKey, type GetSecretValue } from '#shared/cloudfront-keys';
import type { AwsCredentials, RoleBroker } from '#shared/credential-broker';
import type { ItemReader } from '#shared/records/location-read';
import {
  AssumeRoleDeniedError,
  BinaryBackendError,
  CustomerTrustBrokenError,
  PlatformRoleNotAssumableError,
  StoragePermissionError,
  StsInvalidClientTokenError,
  StsRegionDisabledError,
  TransientError,
  ValidationError,
  asTransientOr,
  awsErrorName,
  httpStatus,
} from '#shared/errors';
import { externalIdFor, roleSessionName } from '#shared/identifiers';
import { s3MultipartClient, type S3MultipartApi } from '#shared/s3-multipart';
import { cloudFrontUrl, s3Presigner } from '#shared/url-signers';
import {
  checkPrefixedKeys,
  parseSignRequest,
  type MultipartAbortRequest,
  type MultipartCompleteRequest,
  type MultipartStartRequest,
  type SignRequest,
} from './request';
import { Router, type CustomRoute, type Route } from './routing';
import { CLOUDFRONT_TTL } from '#shared/rules';

/** CloudFront URL lifetime: 60 s to 7 days, default 3600 s (the same bounds onboarding validates). */
export { CLOUDFRONT_TTL };

/** Default S3 URL lifetime when the request names none. */
export const DEFAULT_S3_TTL_SECONDS = 900;
/** Lambda's synchronous response limit is 6 MB (aws-facts.md, Lambda); keep a margin below 6 MiB. */
export const MAX_RESPONSE_BYTES = 6_000_000;
/** Room for the response's fields other than `urls`. */
const RESPONSE_ENVELOPE_BYTES = 4096;

/** At most the bytes `value` takes as a JSON string (each UTF-16 unit at most 6 bytes, as `\uXXXX`). */
function jsonBytesBound(value: string): number {
  return value.length * 6 + 2;
}

/**
 * Refuses a response Lambda could not return (over 6 MB), with what to do instead. A cheap upper bound
 * clears almost every response; only a large one is serialised to be measured exactly.
 */
export function checkResponseSize(req: SignRequest, out: SignResponse): void {
  let bound = RESPONSE_ENVELOPE_BYTES;
  for (const u of out.urls) bound += u.url.length + jsonBytesBound(u.key) + 160;
  if (bound <= MAX_RESPONSE_BYTES) return;
  const bytes = Buffer.byteLength(JSON.stringify(out), 'utf8');
  if (bytes <= MAX_RESPONSE_BYTES) return;
  const n = out.urls.length;
  const fit = Math.max(1, Math.floor((n * (MAX_RESPONSE_BYTES - RESPONSE_ENVELOPE_BYTES)) / bytes));
  const mb = (bytes / 1e6).toFixed(1);
  if (req.operation === 'download' || req.operation === 'upload') {
    throw new ValidationError(
      `keys: the ${n} URLs make a ${mb} MB response, over Lambda's 6 MB limit; split the keys into requests of at most ${fit} keys`,
      ['keys'],
    );
  }
  throw new ValidationError(`${req.operation}: the response would be ${mb} MB, over Lambda's 6 MB limit`, ['(input)']);
}

export interface SignedUrl {
  /** The key as the caller gave it (relative to the org). */
  key: string;
  url: string;
  method: 'GET' | 'PUT';
  /** Headers the caller must send with the request (none today: only `host` is signed). */
  headers: Record<string, string>;
  /** When the URL really stops working (ISO 8601, whole seconds). */
  expiresAt: string;
  /** UploadPart URLs only. */
  partNumber?: number;
}

export interface SignResponse {
  storage: 'default' | 'custom';
  /**
   * Where the URLs point (docs/locations.md): the current route's location, or the one asked for. Callers keep
   * the one an upload answered with and send it back with the download.
   */
  location: string;
  /** The backend's name (custom storage only). */
  roleName?: string;
  via: 's3' | 'cloudfront';
  urls: SignedUrl[];
  /** The lifetime every URL got, in seconds (after clamping). */
  ttlSeconds?: number;
  /** True when the requested TTL was longer than the signing session had left and was cut to it. */
  clamped?: boolean;
  /** multipart-* operations. */
  key?: string;
  uploadId?: string;
  /** multipart-complete: the object's ETag. */
  etag?: string;
  /** multipart-abort. */
  aborted?: boolean;
  /** multipart-start in pages: the first part number not signed yet; absent when this page is the last. */
  nextPart?: number;
}

export interface SignerSettings {
  defaultBucket: string;
  defaultBucketRegion: string;
  defaultSignerRoleArn: string;
  configCacheTtlSeconds: number;
}

export interface SignerDeps {
  /**
   * The signer's one DynamoDB read (GetItem of the org item and of location items). The handler gives a signed
   * fetch (dynamodb-fetch.ts); tests may give `documentClientReader` over an SDK DocumentClient.
   */
  items: ItemReader;
  tableName: string;
  /** GetSecretValue for CloudFront keys: secrets-fetch.ts in the handler, `sdkGetSecret(client)` in tests. */
  getSecret: GetSecretValue;
  /** Caches credentials; its refresh threshold is CREDENTIAL_REFRESH_THRESHOLD_SECONDS. */
  broker: RoleBroker;
  /**
   * The multipart calls for a region and credentials. Default: s3-multipart.ts (SigV4-signed fetch, no
   * S3Client, which would triple the signer's bundle). Tests may adapt an SDK S3Client here.
   */
  s3Multipart?: (region: string, credentials: AwsCredentials) => S3MultipartApi;
  clock: () => Date;
  settings: SignerSettings;
}

export interface SignerStats {
  getItemCalls: number;
  assumeRoleCalls: number;
  getSecretValueCalls: number;
}

export interface UrlSigner {
  /** Validates `input` and signs. Throws ValidationError (nothing signed), CustomerTrustBrokenError, ... */
  sign(input: unknown): Promise<SignResponse>;
  /** Network calls made so far, for benchmarks and tests. */
  stats(): SignerStats;
}

/** Builds a signer with its caches. One per container; tests build their own with injected deps. */
export function createUrlSigner(deps: SignerDeps): UrlSigner {
  const routes = new Router({
    items: deps.items,
    tableName: deps.tableName,
    ttlSeconds: deps.settings.configCacheTtlSeconds,
    clock: deps.clock,
    defaults: {
      bucket: deps.settings.defaultBucket,
      region: deps.settings.defaultBucketRegion,
      signerRoleArn: deps.settings.defaultSignerRoleArn,
    },
  });
  const s3Clients = new WeakMap<AwsCredentials, Map<string, S3MultipartApi>>();
  const makeS3 = deps.s3Multipart ?? ((region: string, credentials: AwsCredentials) => s3MultipartClient(region, credentials));
  const gsvAtStart = cloudFrontKeyStats.getSecretValueCalls;

  function s3ClientFor(region: string, credentials: AwsCredentials): S3MultipartApi {
    let byRegion = s3Clients.get(credentials);
    if (!byRegion) s3Clients.set(credentials, (byRegion = new Map()));
    let client = byRegion.get(region);
    if (!client) byRegion.set(region, (client = makeS3(region, credentials)));
    return client;
  }

  /**
   * Customer roles that just refused us, remembered for the route cache's TTL: while a customer's trust is
   * broken, a burst of requests gets CustomerTrustBrokenError without an AssumeRole each (STS throttles
   * per account). A fixed trust policy is picked up within that TTL.
   */
  const refusedUntil = new Map<string, { untilMs: number; error: BinaryBackendError }>();

  /** Credentials for S3 on this route, with the hop failures translated for the caller. */
  async function credentialsFor(orgId: string, route: Route): Promise<AwsCredentials> {
    const refusalKey = route.storage === 'custom' ? `${orgId}|${route.platformRoleArn}|${route.customerRoleArn}` : '';
    const refused = refusalKey ? refusedUntil.get(refusalKey) : undefined;
    if (refused) {
      if (refused.untilMs > deps.clock().getTime()) throw refused.error;
      refusedUntil.delete(refusalKey);
    }
    try {
      if (route.storage === 'default') {
        return await deps.broker.roleCredentials('signer', route.signerRoleArn, roleSessionName('signer-default'));
      }
      return await deps.broker.customerCredentials({
        platformRoleArn: route.platformRoleArn,
        customerRoleArn: route.customerRoleArn,
        externalId: externalIdFor(orgId),
        sessionName: roleSessionName(`signer-${orgId}`),
      });
    } catch (err) {
      if (err instanceof AssumeRoleDeniedError && err.hop === 'customer' && route.storage === 'custom') {
        // The URL would not work, and default storage does not hold this org's binaries: refuse.
        const error = new CustomerTrustBrokenError(
          `Org ${orgId}: the customer role ${route.customerRoleArn} of backend "${route.roleName}" no longer lets Peridio's ` +
            `platform role assume it (AccessDenied with ExternalId ${externalIdFor(orgId)}); no URL was signed`,
          { cause: err },
        );
        refusedUntil.set(refusalKey, { untilMs: deps.clock().getTime() + deps.settings.configCacheTtlSeconds * 1000, error });
        throw error;
      }
      if ((err instanceof StsRegionDisabledError || err instanceof StsInvalidClientTokenError) && refusalKey) {
        // Not a broken trust, and no retry fixes it soon: remembered like a refusal, so a burst costs one STS call.
        refusedUntil.set(refusalKey, { untilMs: deps.clock().getTime() + deps.settings.configCacheTtlSeconds * 1000, error: err });
        throw err;
      }
      if (err instanceof AssumeRoleDeniedError && err.hop === 'platform') {
        throw new PlatformRoleNotAssumableError(
          `The signer cannot assume the platform role ${(route as CustomRoute).platformRoleArn} for org ${orgId}; no URL was signed`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** Seconds the URL may live with these credentials, and whether the request had to be cut. */
  function s3Ttl(requested: number | undefined, credentials: AwsCredentials, nowSec: number): { ttl: number; clamped: boolean } {
    const want = requested ?? DEFAULT_S3_TTL_SECONDS;
    const left = credentials.expiration
      ? Math.floor((credentials.expiration.getTime() - nowSec * 1000) / 1000)
      : Number.POSITIVE_INFINITY;
    if (left < 1) {
      // The broker refreshes well before expiry, so this means the clock or STS is off: never sign a dead URL.
      throw new TransientError('The signing credentials have no session time left; retry');
    }
    return want > left ? { ttl: left, clamped: true } : { ttl: want, clamped: false };
  }

  function base(route: Route, via: 's3' | 'cloudfront'): SignResponse {
    return route.storage === 'custom'
      ? { storage: 'custom', location: route.location, roleName: route.roleName, via, urls: [] }
      : { storage: 'default', location: route.location, via, urls: [] };
  }

  async function signObjects(
    orgId: string,
    route: Route,
    keys: string[],
    method: 'GET' | 'PUT',
    requestedTtl: number | undefined,
  ): Promise<SignResponse> {
    checkPrefixedKeys(route.prefix, keys, (i) => `keys.${i}`);
    const nowSec = Math.floor(deps.clock().getTime() / 1000);
    if (method === 'GET' && route.download.type === 'cloudfront') {
      const cf = route.download;
      const ttl = requestedTtl ?? cf.ttlSeconds ?? CLOUDFRONT_TTL.default;
      if (ttl < CLOUDFRONT_TTL.min || ttl > CLOUDFRONT_TTL.max) {
        throw new ValidationError(`ttlSeconds: must be ${CLOUDFRONT_TTL.min}-${CLOUDFRONT_TTL.max} seconds for CloudFront URLs (got ${ttl})`, [
          'ttlSeconds',
        ]);
      }
      const privateKey: KeyObject = await loadCloudFrontKey(deps.getSecret, cf.privateKeySecretArn, cf.privateKeySecretVersionId, {
        now: () => deps.clock().getTime(),
      });
      const expiresEpochSeconds = nowSec + ttl;
      const expiresAt = new Date(expiresEpochSeconds * 1000).toISOString();
      const out = base(route, 'cloudfront');
      out.ttlSeconds = ttl;
      out.urls = keys.map((key) => ({
        key,
        url: cloudFrontUrl({
          host: cf.host,
          objectPath: route.prefix + key,
          keyPairId: cf.keyPairId,
          privateKey,
          hashAlgorithm: cf.hashAlgorithm ?? 'SHA1',
          expiresEpochSeconds,
        }),
        method: 'GET',
        headers: {},
        expiresAt,
      }));
      return out;
    }
    const credentials = await credentialsFor(orgId, route);
    const { ttl, clamped } = s3Ttl(requestedTtl, credentials, nowSec);
    const now = new Date(nowSec * 1000);
    const expiresAt = new Date((nowSec + ttl) * 1000).toISOString();
    const out = base(route, 's3');
    out.ttlSeconds = ttl;
    if (clamped) out.clamped = true;
    const presign = await s3Presigner({ credentials, region: route.region, bucket: route.bucket });
    const urls: SignedUrl[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      urls[i] = {
        key,
        url: await presign({ key: route.prefix + key, method, expiresInSeconds: ttl, now }),
        method,
        headers: {},
        expiresAt,
      };
    }
    out.urls = urls;
    return out;
  }

  /** Maps an S3 error of a multipart call to a named error. */
  function s3Failure(err: unknown, route: Route, field: string, what: string): unknown {
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

  async function multipartStart(req: MultipartStartRequest, route: Route): Promise<SignResponse> {
    checkPrefixedKeys(route.prefix, [req.key], () => 'key');
    const credentials = await credentialsFor(req.orgId, route);
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
        const created = await s3ClientFor(route.region, credentials).createMultipartUpload({ Bucket: route.bucket, Key: objectKey });
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
    const out = base(route, 's3');
    out.key = req.key;
    out.uploadId = uploadId;
    out.ttlSeconds = ttl;
    if (clamped) out.clamped = true;
    out.urls = urls;
    if (last < req.parts) out.nextPart = last + 1;
    return out;
  }

  async function multipartComplete(req: MultipartCompleteRequest, route: Route): Promise<SignResponse> {
    checkPrefixedKeys(route.prefix, [req.key], () => 'key');
    const credentials = await credentialsFor(req.orgId, route);
    const parts = [...req.parts].sort((a, b) => a.partNumber - b.partNumber);
    let etag: string | undefined;
    try {
      const done = await s3ClientFor(route.region, credentials).completeMultipartUpload({
        Bucket: route.bucket,
        Key: route.prefix + req.key,
        UploadId: req.uploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
      });
      etag = done.ETag;
    } catch (err) {
      throw s3Failure(err, route, 'parts', 'CompleteMultipartUpload');
    }
    const out = base(route, 's3');
    out.key = req.key;
    out.uploadId = req.uploadId;
    if (etag) out.etag = etag;
    return out;
  }

  /**
   * Only default storage is guaranteed s3:AbortMultipartUpload: the seed's customer policy lacks it, so
   * on a custom backend this may end in StoragePermissionError (S3 then removes the parts per the
   * bucket's lifecycle rule, if the customer has one).
   */
  async function multipartAbort(req: MultipartAbortRequest, route: Route): Promise<SignResponse> {
    checkPrefixedKeys(route.prefix, [req.key], () => 'key');
    const credentials = await credentialsFor(req.orgId, route);
    try {
      await s3ClientFor(route.region, credentials).abortMultipartUpload({ Bucket: route.bucket, Key: route.prefix + req.key, UploadId: req.uploadId });
    } catch (err) {
      throw s3Failure(err, route, 'uploadId', 'AbortMultipartUpload');
    }
    const out = base(route, 's3');
    out.key = req.key;
    out.uploadId = req.uploadId;
    out.aborted = true;
    return out;
  }

  async function dispatch(req: SignRequest, route: Route): Promise<SignResponse> {
    switch (req.operation) {
      case 'download':
        return signObjects(req.orgId, route, req.keys, 'GET', req.ttlSeconds);
      case 'upload':
        return signObjects(req.orgId, route, req.keys, 'PUT', req.ttlSeconds);
      case 'multipart-start':
        return multipartStart(req, route);
      case 'multipart-complete':
        return multipartComplete(req, route);
      case 'multipart-abort':
        return multipartAbort(req, route);
    }
  }

  return {
    async sign(input: unknown): Promise<SignResponse> {
      const req = parseSignRequest(input);
      // Uploads (and a first page of multipart-start, which the request contract refuses a location) always
      // go to the current route; everything else may name where the object lives.
      const location = req.operation === 'upload' ? undefined : req.location;
      const route = location === undefined ? await routes.current(req.orgId) : await routes.forLocation(req.orgId, location);
      const out = await dispatch(req, route);
      checkResponseSize(req, out);
      return out;
    },
    stats(): SignerStats {
      return {
        getItemCalls: routes.getItemCalls,
        assumeRoleCalls: deps.broker.assumeRoleCalls,
        getSecretValueCalls: cloudFrontKeyStats.getSecretValueCalls - gsvAtStart,
      };
    },
  };
}
