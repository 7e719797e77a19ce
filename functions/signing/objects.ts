/**
 * Download and upload URLs for a list of org-relative keys: CloudFront signed URLs for downloads when the
 * route's download config is CloudFront (with the signer's cached key), S3 presigned URLs otherwise (with the
 * route's credentials). No network call once the caches are warm.
 */
import type { CloudFrontKeyCache } from '#shared/cloudfront-keys';
import type { AwsCredentials } from '#shared/credential-broker';
import { cloudFrontUrl, s3Presigner } from '#shared/url-signers';
import { checkPrefixedKeys } from './request';
import { responseFor, type SignResponse, type SignedUrl } from './response';
import type { Route } from './routing';
import { cloudFrontTtl, s3Ttl } from './ttl-rules';

export interface ObjectSigningDeps {
  clock: () => Date;
  /** Credentials for S3 on a route (credentials.ts `credentialsFor`). */
  credentials: (orgId: string, route: Route) => Promise<AwsCredentials>;
  /** The signer's CloudFront keys. */
  cloudFrontKeys: CloudFrontKeyCache;
}

/**
 * URLs for `keys` under the route's prefix: GET (download) or PUT (upload). Throws ValidationError (a key too
 * long with the prefix, a CloudFront TTL out of bounds), CloudFrontKeyError, and the credentials' errors.
 */
export async function signObjects(
  deps: ObjectSigningDeps,
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
    const ttl = cloudFrontTtl(requestedTtl, cf.ttlSeconds);
    const privateKey = await deps.cloudFrontKeys.get(cf.privateKeySecretArn, cf.privateKeySecretVersionId);
    const expiresEpochSeconds = nowSec + ttl;
    const expiresAt = new Date(expiresEpochSeconds * 1000).toISOString();
    const out = responseFor(route, 'cloudfront');
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
  const credentials = await deps.credentials(orgId, route);
  const { ttl, clamped } = s3Ttl(requestedTtl, credentials, nowSec);
  const now = new Date(nowSec * 1000);
  const expiresAt = new Date((nowSec + ttl) * 1000).toISOString();
  const out = responseFor(route, 's3');
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
