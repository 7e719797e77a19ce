/**
 * The signer's request (DESIGN "Signing", a contract): validated once at the boundary, so nothing below
 * signs anything for input that broke a rule. Every broken rule is named by field (`keys.3`, `ttlSeconds`)
 * in one ValidationError.
 *
 * The rules that need the org's storage prefix (a key is at most 1024 UTF-8 bytes *after* prefixing) are
 * checked by `checkPrefixedKeys` once the route is known, still before anything is signed.
 */
import { z } from 'zod';
import { ValidationError } from '../shared/errors';
import { hasControlCharacters, orgIdSchema, shown, toValidationError } from '../shared/validation';

export const OPERATIONS = ['download', 'upload', 'multipart-start', 'multipart-complete', 'multipart-abort'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** S3 object keys are at most 1024 bytes of UTF-8 (aws-facts.md section 3), prefix included. */
export const MAX_KEY_BYTES = 1024;
export const MAX_KEYS_PER_REQUEST = 1000;
/** S3 allows part numbers 1-10000. */
export const MAX_PARTS = 10_000;
/** Every URL lifetime the caller may ask for: 60 s (CloudFront's floor) to 7 days (SigV4's and CloudFront's ceiling). */
export const REQUEST_TTL = { min: 60, max: 604_800 } as const;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why an org-relative key is refused, or undefined when it is fine. Dot segments are refused because
 * every HTTP client (WHATWG URL, curl) collapses `/./` and `/../` before sending, so such a URL would
 * fetch another object than the one signed, or fail: a URL that cannot work.
 */
export function objectKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'must not be empty';
  if (LONE_SURROGATE.test(key)) return 'must be valid UTF-8 (it contains a lone surrogate)';
  if (hasControlCharacters(key)) return 'must not contain control characters';
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `must be at most ${MAX_KEY_BYTES} UTF-8 bytes`;
  if (key.split('/').some((s) => s === '.' || s === '..')) return `must not contain '.' or '..' path segments (got ${shown(key)})`;
  return undefined;
}

const objectKey = z.string({ error: 'must be a string' }).superRefine((v, ctx) => {
  const p = objectKeyProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

const ttlSeconds = z
  .number({ error: 'must be a number of seconds' })
  .int({ error: 'must be a whole number of seconds' })
  .min(REQUEST_TTL.min, { error: `must be at least ${REQUEST_TTL.min} seconds` })
  .max(REQUEST_TTL.max, { error: `must be at most ${REQUEST_TTL.max} seconds (7 days)` })
  .optional();

const keys = z
  .array(objectKey, { error: 'must be an array of object keys' })
  .min(1, { error: 'must hold at least 1 key' })
  .max(MAX_KEYS_PER_REQUEST, { error: `must hold at most ${MAX_KEYS_PER_REQUEST} keys` });

const uploadId = z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).max(2048, { error: 'is too long' });

const partNumber = z
  .number({ error: 'must be a number' })
  .int({ error: 'must be a whole number' })
  .min(1, { error: 'must be at least 1' })
  .max(MAX_PARTS, { error: `must be at most ${MAX_PARTS}` });

const downloadRequest = z.strictObject({ orgId: orgIdSchema, operation: z.literal('download'), keys, ttlSeconds });
const uploadRequest = z.strictObject({ orgId: orgIdSchema, operation: z.literal('upload'), keys, ttlSeconds });
const multipartStartRequest = z.strictObject({
  orgId: orgIdSchema,
  operation: z.literal('multipart-start'),
  key: objectKey,
  parts: z
    .number({ error: 'must be the number of parts' })
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .max(MAX_PARTS, { error: `must be at most ${MAX_PARTS}` }),
  ttlSeconds,
});
const multipartCompleteRequest = z.strictObject({
  orgId: orgIdSchema,
  operation: z.literal('multipart-complete'),
  key: objectKey,
  uploadId,
  parts: z
    .array(
      z.strictObject({
        partNumber,
        etag: z.string({ error: 'must be the ETag S3 returned for the part' }).min(1, { error: 'must not be empty' }),
      }),
      { error: 'must be an array of {partNumber, etag}' },
    )
    .min(1, { error: 'must hold at least 1 part' })
    .max(MAX_PARTS, { error: `must hold at most ${MAX_PARTS} parts` })
    .superRefine((parts, ctx) => {
      const seen = new Set<number>();
      parts.forEach((p, i) => {
        if (seen.has(p.partNumber)) {
          ctx.addIssue({ code: 'custom', path: [i, 'partNumber'], message: `repeats part number ${p.partNumber}` });
        }
        seen.add(p.partNumber);
      });
    }),
});
const multipartAbortRequest = z.strictObject({
  orgId: orgIdSchema,
  operation: z.literal('multipart-abort'),
  key: objectKey,
  uploadId,
});

export const signRequestSchema = z.discriminatedUnion(
  'operation',
  [downloadRequest, uploadRequest, multipartStartRequest, multipartCompleteRequest, multipartAbortRequest],
  {
    error: (issue) =>
      issue.code === 'invalid_union' ? `must be one of ${OPERATIONS.join(', ')}` : 'must be an object {orgId, operation, ...}',
  },
);

export type SignRequest = z.infer<typeof signRequestSchema>;
export type DownloadRequest = z.infer<typeof downloadRequest>;
export type UploadRequest = z.infer<typeof uploadRequest>;
export type MultipartStartRequest = z.infer<typeof multipartStartRequest>;
export type MultipartCompleteRequest = z.infer<typeof multipartCompleteRequest>;
export type MultipartAbortRequest = z.infer<typeof multipartAbortRequest>;

/** The request, validated. Throws ValidationError naming every bad field. */
export function parseSignRequest(input: unknown): SignRequest {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ValidationError('(input): must be an object {orgId, operation, ...}', ['(input)']);
  }
  // reportInput lets toValidationError tell "missing" from "wrong type".
  const result = signRequestSchema.safeParse(input, { reportInput: true });
  if (!result.success) throw toValidationError(result.error);
  return result.data;
}

/**
 * Checks that every key still fits S3's 1024-byte limit once the storage prefix is in front of it.
 * `fields` names each key's field (`keys.3` or `key`). Throws ValidationError naming every key too long.
 */
export function checkPrefixedKeys(prefix: string, entries: { field: string; key: string }[]): void {
  const prefixBytes = Buffer.byteLength(prefix, 'utf8');
  const bad = entries.filter((e) => prefixBytes + Buffer.byteLength(e.key, 'utf8') > MAX_KEY_BYTES);
  if (bad.length === 0) return;
  throw new ValidationError(
    bad
      .map(
        (e) =>
          `${e.field}: must be at most ${MAX_KEY_BYTES - prefixBytes} UTF-8 bytes for this org, because the storage prefix ` +
          `takes ${prefixBytes} of S3's ${MAX_KEY_BYTES} (got ${Buffer.byteLength(e.key, 'utf8')})`,
      )
      .join('; '),
    bad.map((e) => e.field),
  );
}
