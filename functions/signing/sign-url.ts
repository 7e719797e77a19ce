/**
 * The URL signer (DESIGN "Signing", a contract): `createUrlSigner` wires one signer instance and its caches,
 * and `sign` validates, routes and dispatches. Internal services ask for download, upload and multipart URLs
 * for keys relative to an org; the signer says when each URL *really* stops working.
 *
 * Code map (docs/signer.md): request.ts (the request contract), routing.ts (where the org's binaries live:
 * the current route and storage locations, with their caches), credentials.ts (the credentials for a route
 * and the refusal memory), ttl-rules.ts (URL lifetimes and the 6 MB response check), objects.ts (download
 * and upload URLs), multipart.ts (start / complete / abort), response.ts (the answer's shape).
 *
 * Steady state makes no network call per URL: the route, the credentials, the S3 endpoint and the parsed
 * CloudFront key are all cached (docs/signer.md "Caches"). Every cache belongs to the instance: one per
 * container, and tests build their own with injected deps.
 */
import { CloudFrontKeyCache, type GetSecretValue } from '#shared/cloudfront-keys';
import type { AwsCredentials, RoleBroker } from '#shared/credential-broker';
import type { ItemReader } from '#shared/records/location-read';
import { s3MultipartClient, type S3MultipartApi } from '#shared/s3-multipart';
import { credentialsFor, refusalMemory } from './credentials';
import { multipartAbort, multipartComplete, multipartStart, s3ClientCache, type MultipartDeps } from './multipart';
import { signObjects, type ObjectSigningDeps } from './objects';
import { parseSignRequest, type SignRequest } from './request';
import type { SignResponse } from './response';
import { Router, type Route } from './routing';
import { checkResponseSize } from './ttl-rules';

export type { SignedUrl, SignResponse } from './response';

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

/** What the operations need: the clock, credentials for a route, the CloudFront keys and the multipart calls. */
type OperationDeps = ObjectSigningDeps & MultipartDeps;

/** Builds a signer with its caches. One per container; tests build their own with injected deps. */
export function createUrlSigner(deps: SignerDeps): UrlSigner {
  const { clock, settings } = deps;
  const router = new Router({
    items: deps.items,
    tableName: deps.tableName,
    ttlSeconds: settings.configCacheTtlSeconds,
    clock,
    defaults: { bucket: settings.defaultBucket, region: settings.defaultBucketRegion, signerRoleArn: settings.defaultSignerRoleArn },
  });
  const credentials = { broker: deps.broker, refusals: refusalMemory(clock, settings.configCacheTtlSeconds) };
  const operations: OperationDeps = {
    clock,
    credentials: (orgId, route) => credentialsFor(credentials, orgId, route),
    cloudFrontKeys: new CloudFrontKeyCache({ getSecret: deps.getSecret, now: () => clock().getTime() }),
    s3: s3ClientCache(deps.s3Multipart ?? ((region, creds) => s3MultipartClient(region, creds))),
  };
  return {
    async sign(input: unknown): Promise<SignResponse> {
      const req = parseSignRequest(input);
      // Uploads (and a first page of multipart-start, which the request contract refuses a location) always
      // go to the current route; everything else may name where the object lives.
      const location = req.operation === 'upload' ? undefined : req.location;
      const route = location === undefined ? await router.current(req.orgId) : await router.forLocation(req.orgId, location);
      const out = await dispatch(operations, req, route);
      checkResponseSize(req, out);
      return out;
    },
    stats(): SignerStats {
      return {
        getItemCalls: router.getItemCalls,
        assumeRoleCalls: deps.broker.assumeRoleCalls,
        getSecretValueCalls: operations.cloudFrontKeys.getSecretValueCalls,
      };
    },
  };
}

/** One operation on a resolved route. */
function dispatch(deps: OperationDeps, req: SignRequest, route: Route): Promise<SignResponse> {
  switch (req.operation) {
    case 'download':
      return signObjects(deps, req.orgId, route, req.keys, 'GET', req.ttlSeconds);
    case 'upload':
      return signObjects(deps, req.orgId, route, req.keys, 'PUT', req.ttlSeconds);
    case 'multipart-start':
      return multipartStart(deps, req, route);
    case 'multipart-complete':
      return multipartComplete(deps, req, route);
    case 'multipart-abort':
      return multipartAbort(deps, req, route);
  }
}
