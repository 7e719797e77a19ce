/**
 * Step Functions reading for the CLI: an org's executions, their history as a readable timeline (the
 * CheckTrust ⇄ WaitForTrust loop collapsed into one line), and the error that ended a failed run.
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  type DescribeExecutionCommandOutput,
  type ExecutionListItem,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { remediationFor, encodeRoleNameForExecution } from '../functions/public';

/** Every history event of an execution, oldest first. */
export async function executionHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const out = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, maxResults: 1000, nextToken, includeExecutionData: true }),
    );
    events.push(...(out.events ?? []));
    nextToken = out.nextToken;
  } while (nextToken);
  return events.sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
}

/** The newest few history events, newest first: enough for the current state and the final error. */
export async function latestEvents(sfn: SFNClient, executionArn: string, count = 25): Promise<HistoryEvent[]> {
  const out = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: count, reverseOrder: true }));
  return (out.events ?? []).slice().sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
}

/** The state the execution is in now (the last state it entered), or undefined before the first. */
export function currentState(events: HistoryEvent[]): string | undefined {
  for (let i = events.length - 1; i >= 0; i -= 1) {
    const name = events[i]!.stateEnteredEventDetails?.name;
    if (name) return name;
  }
  return undefined;
}

/**
 * DescribeExecution. Right after StartExecution a not-yet-visible execution (ExecutionDoesNotExist) is
 * reported as RUNNING rather than failing the command.
 */
export async function describeExecution(sfn: SFNClient, executionArn: string): Promise<DescribeExecutionCommandOutput> {
  try {
    return await sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (err) {
    if ((err as Error).name === 'ExecutionDoesNotExist') return { status: 'RUNNING', $metadata: {} } as DescribeExecutionCommandOutput;
    throw err;
  }
}

/** True when `name` is an execution of the org (and of the backend, when roleName is given). */
export function isExecutionOf(name: string, orgId: string, roleName?: string): boolean {
  if (!name.startsWith(`${orgId}-`)) return false;
  const rest = name.slice(orgId.length + 1);
  if (roleName === undefined) return /^[A-Za-z0-9_-]+-\d+$/.test(rest);
  // The version is the last all-digit segment, so "a-5-3" (role "a-5") is not an execution of role "a".
  return new RegExp(`^${escapeRegExp(encodeRoleNameForExecution(roleName))}-\\d+$`, 'i').test(rest);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The org's executions, newest first. Execution names are `<orgId>-<roleName>-<configVersion>`. */
export async function listOrgExecutions(
  sfn: SFNClient,
  stateMachineArn: string,
  orgId: string,
  roleName?: string,
): Promise<ExecutionListItem[]> {
  const found: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const out = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 1000, nextToken }));
    found.push(...(out.executions ?? []).filter((e) => e.name && isExecutionOf(e.name, orgId, roleName)));
    nextToken = out.nextToken;
  } while (nextToken);
  return found.sort((a, b) => (b.startDate?.getTime() ?? 0) - (a.startDate?.getTime() ?? 0));
}

export interface ExecutionError {
  name: string;
  message: string;
  remediation: string;
}

/**
 * The error in a Fail/Catch: `cause` is JSON `{errorType, errorMessage}` in AWS and the plain message
 * under aws-local-stepfunctions; both are read. OnboardingFailed's cause is the whole caught error as JSON,
 * `{Error, Cause?}` (SummarizeFailure), whose own Cause is either of those.
 */
export function executionError(error: string | undefined, cause: string | undefined): ExecutionError | undefined {
  if (!error && !cause) return undefined;
  let message = cause ?? '';
  let name = error ?? '';
  try {
    let parsed = JSON.parse(cause ?? '') as { errorType?: string; errorMessage?: string; Error?: string; Cause?: unknown };
    if (parsed && typeof parsed === 'object' && typeof parsed.Error === 'string') {
      name = name || parsed.Error;
      message = typeof parsed.Cause === 'string' ? parsed.Cause : '';
      parsed = typeof parsed.Cause === 'string' && parsed.Cause.startsWith('{') ? JSON.parse(parsed.Cause) : {};
    }
    if (parsed && typeof parsed === 'object') {
      message = parsed.errorMessage ?? message;
      name = name || parsed.errorType || '';
    }
  } catch {
    // a plain message
  }
  name = name || 'Unknown';
  return { name, message, remediation: remediationFor(name) };
}

export interface StepRun {
  name: string;
  /** Task, Wait, Choice, Pass, Fail, Succeed, ... (from the history event type). */
  kind: string;
  enteredAt: Date;
  exitedAt?: Date;
  /** Lambda invocations within the state: more than 1 means retries. */
  invocations: number;
  errors: ExecutionError[];
}

/** The state runs in an execution's history, in order. */
export function stepRuns(events: HistoryEvent[]): StepRun[] {
  const runs: StepRun[] = [];
  const open = (): StepRun | undefined => [...runs].reverse().find((r) => !r.exitedAt);
  for (const e of events) {
    const type = e.type ?? '';
    const at = e.timestamp ? new Date(e.timestamp) : new Date(0);
    if (type.endsWith('StateEntered') && e.stateEnteredEventDetails?.name) {
      runs.push({
        name: e.stateEnteredEventDetails.name,
        kind: type.replace(/StateEntered$/, ''),
        enteredAt: at,
        invocations: 0,
        errors: [],
      });
    } else if (type.endsWith('StateExited') && e.stateExitedEventDetails?.name) {
      const run = [...runs].reverse().find((r) => r.name === e.stateExitedEventDetails!.name && !r.exitedAt);
      if (run) run.exitedAt = at;
    } else if (type === 'LambdaFunctionScheduled' || type === 'TaskScheduled') {
      const run = open();
      if (run) run.invocations += 1;
    } else if (type === 'LambdaFunctionFailed' || type === 'TaskFailed' || type === 'LambdaFunctionTimedOut' || type === 'TaskTimedOut') {
      const d =
        e.lambdaFunctionFailedEventDetails ??
        e.taskFailedEventDetails ??
        e.lambdaFunctionTimedOutEventDetails ??
        e.taskTimedOutEventDetails;
      const err = executionError(d?.error ?? (type.endsWith('TimedOut') ? 'States.Timeout' : undefined), d?.cause);
      const run = open();
      if (run && err) run.errors.push(err);
    }
  }
  return runs;
}

/** One line of the operator's timeline. */
export type TimelineEntry =
  | {
      kind: 'state';
      name: string;
      stateType: string;
      startedAt: string;
      durationMs?: number;
      retries: number;
      errors: ExecutionError[];
    }
  | {
      kind: 'trust-loop';
      name: 'CheckTrust';
      startedAt: string;
      durationMs?: number;
      checks: number;
      waits: number;
      errors: ExecutionError[];
    };

const TRUST_LOOP = new Set(['CheckTrust', 'WaitForTrust']);

/**
 * The state runs with the CheckTrust ⇄ WaitForTrust loop (and the Choice between them) collapsed into
 * one entry: a 7-day wait would otherwise be thousands of lines.
 */
export function timeline(runs: StepRun[]): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  for (let i = 0; i < runs.length; ) {
    const run = runs[i]!;
    if (TRUST_LOOP.has(run.name)) {
      let j = i;
      let checks = 0;
      let waits = 0;
      const errors: ExecutionError[] = [];
      while (j < runs.length && (TRUST_LOOP.has(runs[j]!.name) || runs[j]!.kind === 'Choice')) {
        if (runs[j]!.name === 'CheckTrust') checks += 1;
        if (runs[j]!.name === 'WaitForTrust') waits += 1;
        errors.push(...runs[j]!.errors);
        j += 1;
      }
      const last = runs[j - 1]!;
      out.push({
        kind: 'trust-loop',
        name: 'CheckTrust',
        startedAt: run.enteredAt.toISOString(),
        durationMs: last.exitedAt ? last.exitedAt.getTime() - run.enteredAt.getTime() : undefined,
        checks,
        waits,
        errors: dedupeErrors(errors),
      });
      i = j;
      continue;
    }
    // Choice states outside the trust loop only route (AfterCleanup): nothing for an operator to read.
    if (run.kind === 'Choice') {
      i += 1;
      continue;
    }
    out.push({
      kind: 'state',
      name: run.name,
      stateType: run.kind,
      startedAt: run.enteredAt.toISOString(),
      // Succeed and Fail end the execution: they have no exit event and take no time.
      durationMs: run.exitedAt ? run.exitedAt.getTime() - run.enteredAt.getTime() : run.kind === 'Fail' || run.kind === 'Succeed' ? 0 : undefined,
      retries: Math.max(0, run.invocations - 1),
      errors: dedupeErrors(run.errors),
    });
    i += 1;
  }
  return out;
}

function dedupeErrors(errors: ExecutionError[]): ExecutionError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.name}|${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The error that ended the execution, from its ExecutionFailed/Aborted/TimedOut event. */
export function terminalError(events: HistoryEvent[]): ExecutionError | undefined {
  for (let i = events.length - 1; i >= 0; i -= 1) {
    const e = events[i]!;
    if (e.executionFailedEventDetails) return executionError(e.executionFailedEventDetails.error, e.executionFailedEventDetails.cause);
    if (e.executionAbortedEventDetails)
      return executionError(e.executionAbortedEventDetails.error ?? 'Aborted', e.executionAbortedEventDetails.cause);
    if (e.executionTimedOutEventDetails)
      return executionError(e.executionTimedOutEventDetails.error ?? 'States.Timeout', e.executionTimedOutEventDetails.cause);
  }
  return undefined;
}
