/**
 * The workflow's context: what RecordConfig returns and every later state receives (ASL `ResultPath: $`),
 * as ONE zod schema whose inferred types are the ones the steps use, and its parse at each step's boundary.
 * Nothing secret is in it.
 *
 * The schema checks the fields every step relies on, as it always has; the rest is typed, not checked:
 * `upload` and `download` are the record's UploadConfig / DownloadConfig past their checks (the remaining
 * fields were written by RecordConfig from a validated request), and the earlier states' results
 * (`$.platformRole`, `$.trust`, ...) are what those states returned. Extra fields pass through.
 */
import * as z from 'zod/mini';
import type { ApprovalPlan } from '../approval';
import { orgIdSchema, parseOrThrow, roleNameSchema } from '../validation';
import type { DownloadConfig, UploadConfig } from './model';

const nonEmpty = () => z.string().check(z.minLength(1));

const uploadChecks = z.looseObject({
  bucket: nonEmpty(),
  region: nonEmpty(),
  roleArn: nonEmpty(),
  accountId: z.string().check(z.regex(/^\d{12}$/)),
  prefix: z.optional(z.string()),
});

const downloadChecks = z.looseObject({ type: z.enum(['s3', 'cloudfront']) });

/** CreatePlatformRole's result, at `$.platformRole`. */
export interface PlatformRoleResult {
  roleArn: string;
  trustPolicyReadyAt: string;
}

/** CheckTrust's result, at `$.trust`: the Choice loops to WaitForTrust while `trusted` is false. */
export interface TrustCheckResult {
  trusted: boolean;
  attempt: number;
  /** Seconds WaitForTrust waits (`SecondsPath: $.trust.waitSeconds`); 0 once trusted. */
  waitSeconds: number;
  nextCheckAt?: string;
  /** A short sentence describing what this check saw. */
  lastCheck: string;
}

/** RecordConfig's output: the whole input of every later state. */
const contextSchema = z.looseObject({
  orgId: orgIdSchema,
  roleName: roleNameSchema,
  configVersion: z.number().check(z.int(), z.gte(1)),
  executionArn: nonEmpty(),
  executionName: nonEmpty(),
  requestedBy: nonEmpty(),
  /** From RecordConfig's injected clock (not `$$.Execution.StartTime`), so deadlines are testable. */
  startedAt: z.iso.datetime(),
  trustDeadlineAt: z.iso.datetime(),
  upload: z.pipe(uploadChecks, z.custom<UploadConfig, z.infer<typeof uploadChecks>>()),
  download: z.pipe(downloadChecks, z.custom<DownloadConfig, z.infer<typeof downloadChecks>>()),
  platformRoleArn: nonEmpty(),
  /** Whether AfterCleanup waits for a second principal (RequestApproval) before Activate. */
  approval: z.optional(z.custom<ApprovalPlan>()),
});

/** What a state after RecordConfig receives: the context plus earlier states' ResultPaths. */
const stepInputSchema = z.extend(contextSchema, {
  platformRole: z.optional(z.custom<PlatformRoleResult>()),
  trust: z.optional(z.custom<TrustCheckResult>()),
  verifyUpload: z.optional(z.custom<{ canaryKeys: string[] }>()),
  verifyDownload: z.optional(z.unknown()),
  cleanup: z.optional(z.unknown()),
  activation: z.optional(z.unknown()),
  /** RequestApproval's result: what decideApproval sent with SendTaskSuccess. */
  approvalDecision: z.optional(z.custom<{ approvedBy: string; approvedAt: string }>()),
  /** Set by a Catch (`ResultPath: $.error`). */
  error: z.optional(z.custom<{ Error?: string; Cause?: string }>()),
});

/** RecordConfig's output: the whole input of every later state (ASL `ResultPath: $`). Nothing secret. */
export type OnboardingContext = z.infer<typeof contextSchema>;

/** What a state after RecordConfig receives: the context plus earlier states' ResultPaths. */
export type StepInput = z.infer<typeof stepInputSchema>;

/**
 * A state's input (RecordConfig's context plus earlier results), checked for the fields every step relies
 * on. Extra fields pass through. Throws ValidationError naming the bad fields.
 */
export function parseStepInput(input: unknown): StepInput {
  return parseOrThrow(stepInputSchema, input);
}
