/**
 * The SDK's standard retry, for the calls made without an SDK client (aws-fetch.ts for DynamoDB, STS and
 * Secrets Manager; s3-objects.ts for S3): which answers are retried, and how long to wait before the next
 * attempt. One place, so the two stay the SDK's classification (@smithy/service-error-classification) and
 * backoff (computeNextBackoffDelay).
 */

/** Throttling waits longer than the other transient failures. */
export type RetryClass = 'throttling' | 'transient';

/** Error codes the SDK's standard retry treats as throttling (@smithy/service-error-classification). */
const THROTTLING_CODES = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);
/** Transient error codes and statuses of the same classification. */
const TRANSIENT_CODES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const TRANSIENT_STATUSES = new Set([500, 502, 503, 504]);

/** How the SDK would retry a service's error answer (`code` = the error's name), or undefined: not at all. */
export function retryClassOf(code: string, status: number): RetryClass | undefined {
  if (THROTTLING_CODES.has(code) || status === 429) return 'throttling';
  if (TRANSIENT_CODES.has(code) || TRANSIENT_STATUSES.has(status)) return 'transient';
  return undefined;
}

/** The SDK's computeNextBackoffDelay: floor(min(20 s, random * 2^(attempt-1) * base)), base 500 ms for throttling, else 100 ms. */
export function backoffMs(attempt: number, retry: RetryClass, random: () => number): number {
  return Math.floor(Math.min(20_000, random() * 2 ** (attempt - 1) * (retry === 'throttling' ? 500 : 100)));
}

/** The default wait between attempts: a real timer (tests inject their own). */
export function sleepReal(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
