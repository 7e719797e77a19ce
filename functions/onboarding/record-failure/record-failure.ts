/**
 * RecordFailure (the Catch path): writes FAILED with the error's name, message and remediation on THIS
 * execution's pending config only (conditioned on executionArn; if another execution holds the backend it
 * writes nothing), never touching the serving config or `active`, then emits *Onboarding Failed*.
 *
 * It must cope with whatever the Catch hands it:
 * - for a function error `Cause` is the JSON `{errorType, errorMessage, trace}` (in AWS, and locally through
 *   local/task-bridge.ts); other failures AWS itself gives a plain-text Cause (see describeCaughtError).
 *   Lambda drops custom error properties, so the remediation comes from errors.ts by name;
 * - after a RecordConfig failure the state is the raw (maybe invalid) execution input, without
 *   executionArn, so there is nothing of ours to mark: it records what it can and never throws for bad
 *   input (that would only hide the original error).
 * Throttling/5xx still throw TransientError, which the state machine retries.
 *
 * A config that already serves for this execution (Activate's write succeeded, then the step failed, say
 * on a Lambda timeout) is never marked FAILED and no *Onboarding Failed* is sent: the result says
 * `alreadyActive: true`, and the ASL's AfterCleanup then ends the execution as a success.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { RecordStore } from '#shared/records/model';
import { getOrgRecord } from '#shared/records/read-sdk';
import { writeAuditEvent } from '#shared/records/audit';
import { recordFailure as writeFailure } from '#shared/records/pending-writes';
import { DetailType, emitEvent } from '#shared/events';
import { releaseClaims } from '#shared/claims';
import { logger } from '#shared/logger';
import { remediationFor } from '#shared/errors';
import { executionName as executionNameFor } from '#shared/identifiers';
import { looksLikeKeyMaterial, orgIdProblem, roleNameProblem } from '#shared/validation';

export interface RecordFailureDeps {
  store: RecordStore;
  events: EventBridgeClient;
  eventBusName: string;
  clock: () => Date;
}

export interface RecordFailureResult {
  /** Whether this execution's pending config was marked FAILED (false: not ours, or nothing to mark). */
  recorded: boolean;
  /** True when this execution's config already serves (it activated): nothing was marked, no event sent. */
  alreadyActive: boolean;
  /** Only when alreadyActive: when it activated. The ASL's AfterCleanup tests its presence to end as a success. */
  activatedAt?: string;
  errorName: string;
  message: string;
  remediation: string;
}

export interface CaughtError {
  name: string;
  message: string;
}

const MAX_MESSAGE = 1000;

/**
 * The error a Catch put at `$.error`. A function error's Cause is the JSON `{errorType, errorMessage, trace}`
 * Step Functions makes of Lambda's error report (docs/reference/aws-facts.md); its errorMessage is the message.
 * Any other Cause is taken as plain text, because AWS itself gives those: a callback task's SendTaskFailure
 * cause (ApprovalRejectedError carries the approver's reason), the Lambda service's own errors
 * (Lambda.ServiceException, Lambda.Unknown: a sentence, not the function's report) and States.* errors
 * (States.Timeout may have no Cause at all).
 */
export function describeCaughtError(error: unknown): CaughtError {
  const e = (error && typeof error === 'object' ? error : {}) as { Error?: unknown; Cause?: unknown };
  let name = typeof e.Error === 'string' && e.Error.length > 0 ? e.Error : 'Unknown';
  let message = '';
  if (typeof e.Cause === 'string') {
    const report = lambdaErrorReport(e.Cause);
    message = report?.errorMessage ?? e.Cause;
    if (name === 'Unknown' && report?.errorType) name = report.errorType;
  }
  return { name: name.slice(0, 128), message: sanitise(message) || 'No error message was recorded.' };
}

/** A function error's Cause, `{errorType, errorMessage, trace}` as JSON; undefined for any other Cause. */
function lambdaErrorReport(cause: string): { errorType?: string; errorMessage: string } | undefined {
  if (!cause.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(cause) as { errorType?: unknown; errorMessage?: unknown };
    if (!parsed || typeof parsed !== 'object' || typeof parsed.errorMessage !== 'string') return undefined;
    return { errorMessage: parsed.errorMessage, ...(typeof parsed.errorType === 'string' ? { errorType: parsed.errorType } : {}) };
  } catch {
    return undefined;
  }
}

/** Short, and never key material: messages are stored and published. */
function sanitise(message: string): string {
  if (looksLikeKeyMaterial(message)) return '<message withheld: it looked like key material>';
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
}

interface Identity {
  orgId?: string;
  roleName?: string;
  configVersion?: number;
  executionArn?: string;
  executionName?: string;
}

/** What can be trusted of the state: each field only if it is well-formed. */
function identityOf(state: Record<string, unknown>): Identity {
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 && v.length <= 2048 ? v : undefined);
  const orgId = str(state.orgId);
  const roleName = str(state.roleName);
  const id: Identity = {
    orgId: orgId && !orgIdProblem(orgId) ? orgId : undefined,
    roleName: roleName && !roleNameProblem(roleName) ? roleName : undefined,
    configVersion: Number.isInteger(state.configVersion) && (state.configVersion as number) > 0 ? (state.configVersion as number) : undefined,
    executionArn: str(state.executionArn)?.startsWith('arn:') ? str(state.executionArn) : undefined,
    executionName: str(state.executionName),
  };
  if (!id.executionName && id.orgId && id.roleName && id.configVersion) {
    id.executionName = executionNameFor(id.orgId, id.roleName, id.configVersion);
  }
  return id;
}

/**
 * Records the caught error on this execution's pending config and emits *Onboarding Failed*. Accepts the
 * state as the Catch left it, or `{state, executionArn, executionName}` if the ASL passes the context.
 */
export async function recordFailure(event: unknown, deps: RecordFailureDeps): Promise<RecordFailureResult> {
  const raw = (event && typeof event === 'object' ? event : {}) as Record<string, unknown>;
  const state =
    raw.state && typeof raw.state === 'object' ? { ...(raw.state as Record<string, unknown>), ...pick(raw) } : raw;
  const id = identityOf(state);
  const caught = describeCaughtError(state.error);
  const remediation = remediationFor(caught.name);
  const now = deps.clock();

  let recorded = false;
  if (id.orgId && id.roleName && id.executionArn) {
    const ref = { orgId: id.orgId, roleName: id.roleName, executionArn: id.executionArn };
    const activatedAt = await activatedFor(deps, ref);
    if (activatedAt) {
      await audit(deps, id, now, { errorName: caught.name, message: caught.message, recorded: false, alreadyActive: true });
      return { recorded: false, alreadyActive: true, activatedAt, errorName: caught.name, message: caught.message, remediation };
    }
    recorded = await writeFailure(deps.store, ref, { name: caught.name, message: caught.message, remediation, at: now.toISOString() }, now);
  }
  await releaseOwnClaims(deps, id, state.upload);

  await emitEvent(deps.events, deps.eventBusName, DetailType.OnboardingFailed, {
    orgId: id.orgId ?? null,
    roleName: id.roleName ?? null,
    configVersion: id.configVersion ?? null,
    executionArn: id.executionArn ?? null,
    executionName: id.executionName ?? null,
    errorName: caught.name,
    message: caught.message,
    remediation,
    recorded,
  });
  await audit(deps, id, now, { errorName: caught.name, message: caught.message, recorded });
  return { recorded, alreadyActive: false, errorName: caught.name, message: caught.message, remediation };
}

/**
 * When this execution activated: its config is the backend's serving one and its pending config is gone
 * (activation removes it in the same write that sets serving). Undefined otherwise.
 */
async function activatedFor(deps: RecordFailureDeps, ref: { orgId: string; roleName: string; executionArn: string }): Promise<string | undefined> {
  const backend = (await getOrgRecord(deps.store.ddb, deps.store.tableName, ref.orgId))?.backends?.[ref.roleName];
  if (backend?.serving?.executionArn !== ref.executionArn || backend.pending?.executionArn === ref.executionArn) return undefined;
  return backend.serving.activatedAt ?? backend.serving.updatedAt;
}

/**
 * This execution's config will not serve: frees its claims on the customer role and the bucket for other
 * orgs. Best effort (a stale claim is dropped by the next org that needs it anyway, see claims.ts).
 */
async function releaseOwnClaims(deps: RecordFailureDeps, id: Identity, upload: unknown): Promise<void> {
  const u = (upload && typeof upload === 'object' ? upload : {}) as { roleArn?: unknown; bucket?: unknown };
  if (!id.executionName || (typeof u.roleArn !== 'string' && typeof u.bucket !== 'string')) return;
  try {
    await releaseClaims(deps.store, {
      roleArn: typeof u.roleArn === 'string' ? u.roleArn : undefined,
      bucket: typeof u.bucket === 'string' ? u.bucket : undefined,
      executionName: id.executionName,
    });
  } catch (err) {
    logger.warn('Could not release the claims of a failed onboarding; the next org that needs them drops them', {
      errorName: err instanceof Error ? err.name : 'Unknown',
      executionName: id.executionName,
    });
  }
}

async function audit(deps: RecordFailureDeps, id: Identity, now: Date, detail: Record<string, unknown>): Promise<void> {
  if (!id.orgId || !id.executionName) return;
  await writeAuditEvent(deps.store, {
    orgId: id.orgId,
    executionName: id.executionName,
    step: 'RecordFailure',
    attempt: 1,
    at: now.toISOString(),
    detail,
  });
}

function pick(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (raw.executionArn !== undefined) out.executionArn = raw.executionArn;
  if (raw.executionName !== undefined) out.executionName = raw.executionName;
  return out;
}
