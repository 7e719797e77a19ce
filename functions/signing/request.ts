/**
 * The signer's request (DESIGN "Signing", a contract): validated once at the boundary, so nothing below
 * signs anything for input that broke a rule. Every broken rule is named by field (`keys.3`, `ttlSeconds`)
 * in one ValidationError, in the same form as validation.ts's `toValidationError`.
 *
 * The rules that need the org's storage prefix (a key is at most 1024 UTF-8 bytes *after* prefixing) are
 * checked by `checkPrefixedKeys` once the route is known, still before anything is signed.
 *
 * Why `zod/mini`, and the rules from rules.ts rather than validation.ts: the classic `zod` build costs
 * ~450 KB minified whatever is used of it, which would put the signer bundle over its 1 MB budget.
 * `zod/mini` is tree-shakable (~25 KB here).
 */
import * as z from 'zod/mini';
import { ValidationError } from '#shared/errors';
import { LOCATION_PATTERN } from '#shared/identifiers';
import { hasControlCharacters, issuesToValidationError, orgIdProblem, shown } from '#shared/rules';

export const OPERATIONS = ['download', 'upload', 'multipart-start', 'multipart-complete', 'multipart-abort'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** S3 object keys are at most 1024 bytes of UTF-8 (aws-facts.md section 3), prefix included. */
export const MAX_KEY_BYTES = 1024;
export const MAX_KEYS_PER_REQUEST = 1000;
/** S3 allows part numbers 1-10000. */
export const MAX_PARTS = 10_000;
/** Every URL lifetime the caller may ask for: 60 s (CloudFront's floor) to 7 days (SigV4's and CloudFront's ceiling). */
export const REQUEST_TTL = { min: 60, max: 604_800 } as const;

const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;
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
  if (key.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `must be at most ${MAX_KEY_BYTES} UTF-8 bytes`;
  if (DOT_SEGMENT.test(key)) return `must not contain '.' or '..' path segments (got ${shown(key)})`;
  return undefined;
}

function rule(problem: (v: string) => string | undefined) {
  return z.string({ error: 'must be a string' }).check(
    z.superRefine((v, ctx) => {
      const p = problem(v);
      if (p) ctx.addIssue({ code: 'custom', message: p, input: v });
    }),
  );
}

const orgIdSchema = rule(orgIdProblem);
const objectKey = rule(objectKeyProblem);

/**
 * Why a `location` (docs/locations.md) is refused, or undefined when its syntax is fine. Whether the org has
 * that location is decided later, by sign-url.ts's resolution (still before anything is signed).
 */
export function locationProblem(v: string): string | undefined {
  if (LOCATION_PATTERN.test(v)) return undefined;
  return `must be a storage location as an upload answered it: "default" or b.<backend>.<configVersion> (got ${shown(v)})`;
}

/** Where to sign for (docs/locations.md); omitted: the org's current route, as before locations existed. */
const location = z.optional(rule(locationProblem));
/** `upload` refuses any `location`, whatever its value: uploads always land in the current route. */
const UPLOAD_LOCATION_MESSAGE =
  'uploads always go to the current storage; upload takes no location (send the one its answer carries with the download)';
const noLocation = z.optional(
  z.unknown().check(z.superRefine((v, ctx) => ctx.addIssue({ code: 'custom', message: UPLOAD_LOCATION_MESSAGE, input: v }))),
);

function intBetween(min: number, max: number, what: string, typeError: string) {
  return z
    .number({ error: typeError })
    .check(
      z.int({ error: `must be a whole number${what}` }),
      z.gte(min, { error: `must be at least ${min}${what}` }),
      z.lte(max, { error: `must be at most ${max}${what}` }),
    );
}

const ttlSeconds = z.optional(intBetween(REQUEST_TTL.min, REQUEST_TTL.max, ' seconds', 'must be a number of seconds'));

const keys = z
  .array(objectKey, { error: 'must be an array of object keys' })
  .check(
    z.minLength(1, { error: 'must hold at least 1 key' }),
    z.maxLength(MAX_KEYS_PER_REQUEST, { error: `must hold at most ${MAX_KEYS_PER_REQUEST} keys` }),
  );

const uploadId = z
  .string({ error: 'must be a string' })
  .check(z.minLength(1, { error: 'must not be empty' }), z.maxLength(2048, { error: 'is too long' }));

const partNumber = intBetween(1, MAX_PARTS, '', 'must be a number');

const downloadRequest = z.strictObject({ orgId: orgIdSchema, operation: z.literal('download'), keys, ttlSeconds, location });
const uploadRequest = z.strictObject({ orgId: orgIdSchema, operation: z.literal('upload'), keys, ttlSeconds, location: noLocation });
const multipartStartRequest = z.strictObject({
  orgId: orgIdSchema,
  operation: z.literal('multipart-start'),
  key: objectKey,
  /** The upload's total number of parts. */
  parts: intBetween(1, MAX_PARTS, '', 'must be the number of parts'),
  ttlSeconds,
  /**
   * Paging (docs/signer.md): `firstPart: 1` starts the upload and answers the first page of part URLs
   * with `nextPart`; `uploadId` + `firstPart: nextPart` answers the next page, without a new upload.
   */
  firstPart: z.optional(partNumber),
  uploadId: z.optional(uploadId),
  /** Only with `uploadId` (a later page continues the upload where the first page started it). */
  location,
});
const multipartCompleteRequest = z.strictObject({
  orgId: orgIdSchema,
  operation: z.literal('multipart-complete'),
  key: objectKey,
  uploadId,
  /** Where the upload was started (the multipart-start answer's `location`); omitted: the current route. */
  location,
  parts: z
    .array(
      z.strictObject({
        partNumber,
        etag: z
          .string({ error: 'must be the ETag S3 returned for the part' })
          .check(z.minLength(1, { error: 'must not be empty' })),
      }),
      { error: 'must be an array of {partNumber, etag}' },
    )
    .check(
      z.minLength(1, { error: 'must hold at least 1 part' }),
      z.maxLength(MAX_PARTS, { error: `must hold at most ${MAX_PARTS} parts` }),
      z.superRefine((parts, ctx) => {
        const seen = new Set<number>();
        parts.forEach((p, i) => {
          if (seen.has(p.partNumber)) {
            ctx.addIssue({ code: 'custom', path: [i, 'partNumber'], message: `repeats part number ${p.partNumber}`, input: p });
          }
          seen.add(p.partNumber);
        });
      }),
    ),
});
const multipartAbortRequest = z.strictObject({
  orgId: orgIdSchema,
  operation: z.literal('multipart-abort'),
  key: objectKey,
  uploadId,
  location,
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
  if (!result.success) throw issuesToValidationError(result.error.issues);
  const req = result.data;
  if (req.operation === 'multipart-start') checkPaging(req);
  return req;
}

/** The paging fields of multipart-start fit together. Throws ValidationError naming the field. */
function checkPaging(req: MultipartStartRequest): void {
  if (req.location !== undefined && req.uploadId === undefined) {
    throw new ValidationError(
      'location: only a later page (with uploadId) may name one; a new upload always goes to the current storage',
      ['location'],
    );
  }
  if (req.uploadId !== undefined && req.firstPart === undefined) {
    throw new ValidationError('firstPart: is required with uploadId (the first part number of the page to sign)', ['firstPart']);
  }
  if (req.firstPart !== undefined && req.firstPart > 1 && req.uploadId === undefined) {
    throw new ValidationError(
      'uploadId: is required when firstPart is over 1 (later pages continue the upload the first page started)',
      ['uploadId'],
    );
  }
  if (req.firstPart !== undefined && req.firstPart > req.parts) {
    throw new ValidationError(`firstPart: must be at most parts (${req.parts})`, ['firstPart']);
  }
}

/**
 * Checks that every key still fits S3's 1024-byte limit once the storage prefix is in front of it.
 * `field(i)` names key i's field (`keys.3` or `key`). Throws ValidationError naming every key too long.
 */
export function checkPrefixedKeys(prefix: string, keys: readonly string[], field: (i: number) => string): void {
  const prefixBytes = Buffer.byteLength(prefix, 'utf8');
  const room = MAX_KEY_BYTES - prefixBytes;
  const bad: { field: string; key: string }[] = [];
  for (let i = 0; i < keys.length; i++) {
    // A UTF-8 byte is at most 3 per UTF-16 unit: most keys are cleared without counting bytes.
    const key = keys[i]!;
    if (key.length * 3 > room && Buffer.byteLength(key, 'utf8') > room) bad.push({ field: field(i), key });
  }
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
