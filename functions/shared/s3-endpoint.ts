/**
 * Where a bucket's objects are addressed, decided by S3's own endpoint rules without building an S3Client.
 *
 * Why: an S3Client (with @smithy/core's whole middleware, protocol and retry machinery) was most of the
 * signer's bundle and cold start, and the signer used it only to learn this one URL. The SDK's endpoint
 * engine takes the rule set directly: `decideEndpoint(bdd, {endpointParams})` over client-s3's compiled
 * decision diagram (`dist-es/endpoint/bdd.js`, the same data S3Client evaluates), with the `aws.*`
 * partition functions registered as client-s3 registers them. The parameters are filled the way
 * S3Client fills them from its configuration and the environment:
 * - `Endpoint`: `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`
 *   is `true` (the SDK's `getEndpointUrlConfig`; shared config files are not read: Lambda has none);
 * - `UseFIPS` / `UseDualStack`: `AWS_USE_FIPS_ENDPOINT` / `AWS_USE_DUALSTACK_ENDPOINT`;
 * - `UseArnRegion` / `DisableS3ExpressSessionAuth`: `AWS_S3_USE_ARN_REGION` / `AWS_S3_DISABLE_EXPRESS_SESSION_AUTH`;
 * - `ForcePathStyle`: forced for names that are not DNS-compatible, or dotted over https (the SDK's
 *   `resolveParamsForS3`), which is why dotted buckets get path-style URLs on real S3.
 * test/unit/s3-endpoint.test.ts compares the answer with an S3Client's for a table of cases.
 */
import { awsEndpointFunctions } from '@aws-sdk/core/client';
import { customEndpointFunctions, decideEndpoint } from '@smithy/core/endpoints';
// client-s3 has no `exports` map, so its compiled rule set can be imported on its own (esbuild keeps
// only this file of the package). Keep @aws-sdk/client-s3 pinned: the rule set moves with it.
import { bdd } from '@aws-sdk/client-s3/dist-es/endpoint/bdd.js';
import { configuredEndpoint, envBoolean, type Env } from './aws-endpoint-env';

customEndpointFunctions.aws ??= awsEndpointFunctions;

/** Where a bucket's objects are addressed. */
export interface S3BucketEndpoint {
  protocol: 'http:' | 'https:';
  hostname: string;
  port?: number;
  /** `''` for virtual-hosted style, `/<bucket>` for path style. Keys follow as `/<encoded key>`. */
  basePath: string;
}

/** The endpoint S3Client would be configured with from the environment, in the form it hands the rules. */
export function configuredS3Endpoint(env: Env = process.env): string | undefined {
  return configuredEndpoint('S3', env);
}

const DOMAIN_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_ADDRESS_PATTERN = /(\d+\.){3}\d+/;

function needsPathStyle(bucket: string, endpoint: string | undefined): boolean {
  const dnsCompatible = DOMAIN_PATTERN.test(bucket) && !IP_ADDRESS_PATTERN.test(bucket) && !bucket.includes('..');
  return !dnsCompatible || (bucket.includes('.') && !String(endpoint).startsWith('http:')) || bucket.toLowerCase() !== bucket;
}

const cache = new Map<string, S3BucketEndpoint>();

/**
 * Resolves the bucket's endpoint exactly as an S3Client for `region` would for an object request.
 * Cached per (environment, bucket, region). Throws the rule set's error for input S3 cannot address
 * (e.g. an invalid region).
 */
export function resolveS3Endpoint(bucket: string, region: string, env: Env = process.env): S3BucketEndpoint {
  const endpoint = configuredS3Endpoint(env);
  const flags = [
    'AWS_USE_FIPS_ENDPOINT',
    'AWS_USE_DUALSTACK_ENDPOINT',
    'AWS_S3_USE_ARN_REGION',
    'AWS_S3_DISABLE_EXPRESS_SESSION_AUTH',
  ].map((n) => env[n] ?? '');
  const cacheKey = [endpoint ?? '', ...flags, bucket, region].join('|');
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  const params: Record<string, string | boolean | undefined> = {
    Bucket: bucket.replace(/#/g, '%23').replace(/\?/g, '%3F'),
    Key: 'k',
    Region: region,
    UseFIPS: envBoolean(env, 'AWS_USE_FIPS_ENDPOINT') ?? false,
    UseDualStack: envBoolean(env, 'AWS_USE_DUALSTACK_ENDPOINT') ?? false,
    ForcePathStyle: needsPathStyle(bucket, endpoint) ? true : false,
    Accelerate: false,
    UseGlobalEndpoint: false,
    DisableMultiRegionAccessPoints: false,
    UseArnRegion: envBoolean(env, 'AWS_S3_USE_ARN_REGION'),
    DisableS3ExpressSessionAuth: envBoolean(env, 'AWS_S3_DISABLE_EXPRESS_SESSION_AUTH'),
    Endpoint: endpoint,
  };
  for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
  const decided = decideEndpoint(bdd, { endpointParams: params as never });
  const url = decided.url;
  const basePath = url.pathname.replace(/\/+$/, '');
  const found: S3BucketEndpoint = {
    protocol: url.protocol === 'http:' ? 'http:' : 'https:',
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    basePath,
  };
  if (cache.size > 256) cache.clear();
  cache.set(cacheKey, found);
  return found;
}
