/**
 * The rule for executions that died outside any Catch: an EventBridge *Step Functions Execution Status
 * Change* with status ABORTED, TIMED_OUT or FAILED. If that execution still holds its backend's pending
 * config (and the config is not already FAILED/ABANDONED), it is marked: ABORTED -> ABANDONED, TIMED_OUT
 * and FAILED -> FAILED, each with an explanatory error. Anything else is ignored. Without this, the config
 * would sit in AWAITING_TRUST (say) until the next onboarding's RecordConfig noticed its holder had stopped.
 *
 * A FAILED execution normally went through RecordFailure, whose FAILED record this leaves alone (the
 * condition skips finished configs). It matters when the run failed outside any Catch: RecordFailure
 * itself failed, the 25,000-event history limit, a States.Runtime error. An activated config is no longer
 * pending, so a failure after activation never marks it.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { ConfigError, RecordStore } from '#shared/records/model';
import { writeAuditEvent } from '#shared/records/audit';
import { markAbandoned } from '#shared/records/pending-writes';
import { DetailType, emitEvent } from '#shared/events';
import { remediationFor } from '#shared/errors';
import { orgIdProblem, roleNameProblem } from '#shared/validation';

export interface ExecutionStatusChangeDeps {
  store: RecordStore;
  events: EventBridgeClient;
  eventBusName: string;
  clock: () => Date;
}

export interface ExecutionStatusChangeResult {
  executionArn?: string;
  status?: string;
  /** Whether a pending config was marked. */
  marked: boolean;
  reason?: string;
}

const HANDLED = new Set(['ABORTED', 'TIMED_OUT', 'FAILED']);

/** The Step Functions error name of a FAILED execution, if it is a plain name (never echo free text). */
function failedErrorName(detail: Record<string, unknown>): string | undefined {
  return typeof detail.error === 'string' && /^[A-Za-z][A-Za-z0-9_.]{0,127}$/.test(detail.error) ? detail.error : undefined;
}

/** Reverses `encodeRoleNameForExecution`: `_2e` -> `.`. */
export function decodeRoleNameFromExecution(encoded: string): string {
  return encoded.replace(/_([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** `<orgId>-<encodedRoleName>-<configVersion>` back into its parts, or undefined when it is not one of ours. */
export function parseExecutionName(name: string): { orgId: string; roleName: string; configVersion: number } | undefined {
  const m = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-(.+)-(\d+)$/.exec(name);
  if (!m) return undefined;
  const roleName = decodeRoleNameFromExecution(m[2]!);
  if (roleNameProblem(roleName)) return undefined;
  return { orgId: m[1]!, roleName, configVersion: Number(m[3]) };
}

/** orgId and roleName from the execution's input, falling back to its name. */
function backendOf(detail: Record<string, unknown>): { orgId: string; roleName: string } | undefined {
  if (typeof detail.input === 'string') {
    try {
      const input = JSON.parse(detail.input) as { orgId?: unknown; roleName?: unknown };
      if (typeof input.orgId === 'string' && typeof input.roleName === 'string' && !orgIdProblem(input.orgId) && !roleNameProblem(input.roleName)) {
        return { orgId: input.orgId, roleName: input.roleName };
      }
    } catch {
      // Fall back to the name.
    }
  }
  return typeof detail.name === 'string' ? parseExecutionName(detail.name) : undefined;
}

/** Marks the pending config of an ABORTED / TIMED_OUT / FAILED execution. Never throws for an unexpected event. */
export async function executionStatusChange(event: unknown, deps: ExecutionStatusChangeDeps): Promise<ExecutionStatusChangeResult> {
  const detail = ((event as { detail?: unknown } | undefined)?.detail ?? {}) as Record<string, unknown>;
  const status = typeof detail.status === 'string' ? detail.status : undefined;
  const executionArn = typeof detail.executionArn === 'string' ? detail.executionArn : undefined;
  if (!status || !HANDLED.has(status)) return { executionArn, status, marked: false, reason: 'status not handled' };
  if (!executionArn) return { status, marked: false, reason: 'no executionArn in the event' };
  const backend = backendOf(detail);
  if (!backend) return { executionArn, status, marked: false, reason: 'not an onboarding execution of this service' };

  const now = deps.clock();
  const executionName = typeof detail.name === 'string' ? detail.name : executionArn.split(':').pop()!;
  const timedOut = status === 'TIMED_OUT';
  const failedWith = failedErrorName(detail);
  const reason: ConfigError = status === 'FAILED'
    ? {
        name: 'ExecutionFailed',
        message:
          `Execution ${executionName} failed (Step Functions status FAILED, error ${failedWith ?? 'unknown'}) ` +
          'without recording its result; the execution history has the cause.',
        remediation: failedWith ? remediationFor(failedWith) : remediationFor('Unknown'),
        at: now.toISOString(),
      }
    : timedOut
    ? {
        name: 'ExecutionTimedOut',
        message: `Execution ${executionName} timed out (Step Functions status TIMED_OUT) before finishing.`,
        remediation: 'Start a new onboarding (binary-backends onboard); if the trust wait needs longer, give a longer trust deadline.',
        at: now.toISOString(),
      }
    : {
        name: 'ExecutionAborted',
        message: `Execution ${executionName} was stopped (Step Functions status ABORTED) before finishing.`,
        remediation: 'Start a new onboarding when wanted (binary-backends onboard). Canaries it may have left are under .peridio-verification/ in the bucket.',
        at: now.toISOString(),
      };

  const marked = await markAbandoned(
    deps.store,
    { ...backend, executionArn },
    { now, reason, status: status === 'ABORTED' ? 'ABANDONED' : 'FAILED' },
  );
  if (marked) {
    await emitEvent(deps.events, deps.eventBusName, DetailType.OnboardingFailed, {
      ...backend,
      executionArn,
      executionName,
      errorName: reason.name,
      message: reason.message,
      remediation: reason.remediation,
      recorded: true,
    });
  }
  await writeAuditEvent(deps.store, {
    orgId: backend.orgId,
    executionName,
    step: 'ExecutionStatusChange',
    attempt: 1,
    at: now.toISOString(),
    detail: { status, marked },
  });
  return { executionArn, status, marked };
}
