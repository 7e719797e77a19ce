/**
 * Input rules shared by every entry point: the CLI (before anything is written), the starter, and
 * RecordConfig (which re-validates the execution input, because it is the authority whoever started
 * the execution). Each broken rule becomes one `ValidationError` whose message names the field and the
 * rule, like `upload.bucket: must not look like an IP address (got "192.168.5.4")`.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { ValidationError } from './errors';
import {
  assertStackRules,
  bucketProblem,
  CLOUDFRONT_TTL,
  cloudFrontHostProblem,
  findKeyMaterial,
  issuesToValidationError,
  keyPairIdProblem,
  orgIdProblem,
  prefixProblem,
  regionProblem,
  roleArnProblem,
  roleNameProblem,
  secretArnProblem,
  TRUST_DEADLINE,
  TRUST_DEADLINE_CAP_REASON,
  type StackRules,
} from './rules';

export * from './rules';

// ---------------------------------------------------------------------------------------------
// zod glue. `zod/mini`, not classic `zod`: classic costs ~450 KB minified in every bundle whatever is used
// of it (issue 12.9: bundles <= 400 KB). Mini ships no messages of its own, so the English ones classic
// registers are registered here: the few rules without a custom message read exactly as before.
// ---------------------------------------------------------------------------------------------

z.config(en());

function rule(problem: (v: string) => string | undefined) {
  return z.string({ error: 'must be a string' }).check(
    z.superRefine((v, ctx) => {
      const p = problem(v);
      if (p) ctx.addIssue({ code: 'custom', message: p, input: v });
    }),
  );
}

function intBetween(min: number, max: number, maxMessage = `must be at most ${max}`) {
  return z
    .number({ error: 'must be a number' })
    .check(
      z.int({ error: 'must be a whole number of seconds' }),
      z.gte(min, { error: `must be at least ${min}` }),
      z.lte(max, { error: maxMessage }),
    );
}

/** A string of 1-2048 characters (who asked). */
function requester() {
  return z.string().check(z.minLength(1), z.maxLength(2048));
}

export const orgIdSchema = rule(orgIdProblem);
export const roleNameSchema = rule(roleNameProblem);

export const uploadConfigSchema = z.strictObject({
  bucket: rule(bucketProblem),
  region: rule(regionProblem),
  roleArn: rule(roleArnProblem),
  prefix: z.optional(rule(prefixProblem)),
});

export const s3DownloadSchema = z.strictObject({ type: z.literal('s3') });

export const cloudFrontDownloadSchema = z.strictObject({
  type: z.literal('cloudfront'),
  host: rule(cloudFrontHostProblem),
  keyPairId: rule(keyPairIdProblem),
  hashAlgorithm: z._default(z.enum(['SHA1', 'SHA256'], { error: 'must be SHA1 or SHA256' }), 'SHA1'),
  privateKeySecretArn: rule(secretArnProblem),
  /** Pins the secret version, so a later rotation never swaps the key under this config. */
  privateKeySecretVersionId: z.optional(z.string().check(z.regex(/^[A-Za-z0-9-]{32,64}$/, { error: 'must be a Secrets Manager version ID' }))),
  ttlSeconds: z.optional(intBetween(CLOUDFRONT_TTL.min, CLOUDFRONT_TTL.max)),
});

export const downloadConfigSchema = z.discriminatedUnion('type', [s3DownloadSchema, cloudFrontDownloadSchema], {
  error: "must be {\"type\": \"s3\"} or {\"type\": \"cloudfront\", ...}",
});

/** What support (CLI) or the *Onboarding Requested* event asks for. The starter adds configVersion. */
export const onboardingRequestSchema = z.strictObject({
  orgId: orgIdSchema,
  roleName: roleNameSchema,
  upload: uploadConfigSchema,
  download: z._default(downloadConfigSchema, { type: 's3' as const }),
  /** Seconds to wait for the customer's trust policy before failing with TrustPolicyTimeoutError. */
  trustDeadlineSeconds: z.optional(intBetween(TRUST_DEADLINE.min, TRUST_DEADLINE.max, `must be ${TRUST_DEADLINE_CAP_REASON}`)),
  /** Who asked: the caller's sts:GetCallerIdentity ARN (CLI), or the event's source. */
  requestedBy: z.optional(requester()),
});

/** The execution input: the request as the starter normalised it, plus the allocated version. */
export const executionInputSchema = z.extend(onboardingRequestSchema, {
  configVersion: intBetween(1, 1_000_000_000),
  requestedBy: requester(),
});

export type UploadConfigInput = z.infer<typeof uploadConfigSchema>;
export type DownloadConfigInput = z.infer<typeof downloadConfigSchema>;
export type OnboardingRequest = z.infer<typeof onboardingRequestSchema>;
export type ExecutionInput = z.infer<typeof executionInputSchema>;

/** Turns zod issues into one ValidationError naming every field and rule. */
export function toValidationError(error: z.core.$ZodError, root = ''): ValidationError {
  return issuesToValidationError(error.issues, root);
}

/**
 * Parses `input` with `schema`, refusing key material anywhere in it first (so a PEM pasted into the
 * wrong field is never echoed or stored). Throws ValidationError naming each bad field.
 */
export function parseOrThrow<S extends z.ZodMiniType>(schema: S, input: unknown, root = ''): z.infer<S> {
  const keyPaths = findKeyMaterial(input);
  if (keyPaths.length > 0) {
    throw new ValidationError(
      keyPaths
        .map(
          (p) =>
            `${root ? `${root}.` : ''}${p}: key material is not accepted here; store the private key in Secrets Manager ` +
            '(binary-backends onboard --private-key-file does this) and pass download.privateKeySecretArn',
        )
        .join('; '),
      keyPaths,
    );
  }
  // reportInput lets the error tell "missing" (is required) from "wrong type" (expected string, got number).
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) throw toValidationError(result.error, root);
  return result.data;
}

/**
 * The onboarding request, validated; with `stack`, also against the stack's rules (partition, own account,
 * key-secret prefix, loopback hosts). Throws ValidationError naming every bad field.
 */
export function parseOnboardingRequest(input: unknown, stack?: StackRules): OnboardingRequest {
  const request = parseOrThrow(onboardingRequestSchema, input);
  if (stack) assertStackRules(request, stack);
  return request;
}

/** The execution input, validated (with `stack`, also against the stack's rules). Throws ValidationError. */
export function parseExecutionInput(input: unknown, stack?: StackRules): ExecutionInput {
  const request = parseOrThrow(executionInputSchema, input);
  if (stack) assertStackRules(request, stack);
  return request;
}
