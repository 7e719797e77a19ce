/**
 * How long a signed URL lives, and how big an answer may be (docs/signer.md "TTL rules, and why").
 *
 * - S3 URLs are signed with assumed-role credentials whose expiry is known (custom: function role ->
 *   platform role -> customer role with ExternalId = orgId; default storage: a signer role). A presigned
 *   URL dies with the credentials that signed it, and role chaining caps those sessions at one hour, so
 *   TTL = min(request or 900 s, session time left). A longer request is clamped, `expiresAt` shows the
 *   real end and `clamped: true` says it happened. Credentials are refreshed once fewer than
 *   CREDENTIAL_REFRESH_THRESHOLD_SECONDS (900) are left, so a fresh URL always gets at least that long
 *   and a burst never triggers an AssumeRole per call.
 * - CloudFront URLs involve no AWS credentials: TTL = request, else the config's ttlSeconds, else 3600,
 *   within 60 s to 7 days.
 * - A response must fit Lambda's synchronous response limit (6 MB).
 */
import type { AwsCredentials } from '#shared/credential-broker';
import { TransientError, ValidationError } from '#shared/errors';
import { CLOUDFRONT_TTL } from '#shared/rules';
import type { SignRequest } from './request';
import type { SignResponse } from './response';

/** CloudFront URL lifetime: 60 s to 7 days, default 3600 s (the same bounds onboarding validates). */
export { CLOUDFRONT_TTL };

/** Default S3 URL lifetime when the request names none. */
export const DEFAULT_S3_TTL_SECONDS = 900;
/** Lambda's synchronous response limit is 6 MB (aws-facts.md, Lambda); keep a margin below 6 MiB. */
export const MAX_RESPONSE_BYTES = 6_000_000;
/** Room for the response's fields other than `urls`. */
const RESPONSE_ENVELOPE_BYTES = 4096;

/**
 * Seconds an S3 URL may live with these credentials at `nowSec`, and whether the request had to be cut.
 * Throws TransientError when the credentials have no time left.
 */
export function s3Ttl(requested: number | undefined, credentials: AwsCredentials, nowSec: number): { ttl: number; clamped: boolean } {
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

/** A CloudFront URL's lifetime: the request's, else the config's, else 3600 s. ValidationError outside 60 s-7 days. */
export function cloudFrontTtl(requested: number | undefined, configured: number | undefined): number {
  const ttl = requested ?? configured ?? CLOUDFRONT_TTL.default;
  if (ttl < CLOUDFRONT_TTL.min || ttl > CLOUDFRONT_TTL.max) {
    throw new ValidationError(`ttlSeconds: must be ${CLOUDFRONT_TTL.min}-${CLOUDFRONT_TTL.max} seconds for CloudFront URLs (got ${ttl})`, [
      'ttlSeconds',
    ]);
  }
  return ttl;
}

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
