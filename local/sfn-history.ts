/**
 * The execution event history of the local Step Functions (local/stepfunctions.ts), built the way AWS
 * records it: ExecutionStarted, <Type>StateEntered/Exited from aws-local-stepfunctions' event log,
 * LambdaFunctionScheduled/Started/Succeeded/Failed (what AWS records for a Task whose Resource is a plain
 * function ARN, as ours are), TaskScheduled/Started/Submitted/Succeeded/Failed/TimedOut for a
 * `lambda:invoke.waitForTaskToken` Task, and ExecutionSucceeded/Failed/Aborted/TimedOut with error and
 * cause. Event ids count from 1; each event's `previousEventId` is the one before it.
 *
 * One reason to change: the shape of an AWS history event. When the executions run is local/stepfunctions.ts;
 * how the history is served (GetExecutionHistory, paging, includeExecutionData) is local/sfn-api.ts.
 */
import { REGION } from './identity';
import type { TaskFailure } from './task-bridge';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface HistoryEvent {
  timestamp: Date;
  type: string;
  id: number;
  previousEventId: number;
  [details: string]: unknown;
}

/** Appends one event of `type` with its details (under the type's `…EventDetails` key). */
export type AddEvent = (type: string, details?: Record<string, unknown>) => void;

/**
 * The recorder of one execution's history. Nothing is recorded once `aborted()` holds: after
 * ExecutionAborted (appended by `appendAborted`) the history ends.
 */
export function historyRecorder(history: HistoryEvent[], aborted: () => boolean): AddEvent {
  return (type, details) => {
    if (aborted()) return; // nothing is recorded after ExecutionAborted
    const id = history.length + 1;
    const key = detailsKey(type);
    history.push({ timestamp: new Date(), type, id, previousEventId: id - 1, ...(details && key ? { [key]: details } : {}) });
  };
}

/** ExecutionAborted (StopExecution), the last event of a history. */
export function appendAborted(history: HistoryEvent[], at: Date, error?: string, cause?: string): void {
  const id = history.length + 1;
  history.push({
    timestamp: at,
    type: 'ExecutionAborted',
    id,
    previousEventId: id - 1,
    executionAbortedEventDetails: { ...(error ? { error } : {}), ...(cause ? { cause } : {}) },
  });
}

/**
 * Reads aws-local-stepfunctions' event log into <Type>StateEntered / <Type>StateExited events, while
 * `running()` holds. Resolves when the log ends.
 */
export async function recordStateEvents(eventLogs: AsyncIterable<unknown>, add: AddEvent, running: () => boolean): Promise<void> {
  for await (const ev of eventLogs) {
    const e = ev as { type: string; state?: { name: string; type: string; input?: unknown; output?: unknown }; Error?: string; Cause?: unknown; output?: unknown };
    if (!running() && e.type !== 'ExecutionAborted') continue;
    switch (e.type) {
      case 'StateEntered':
        add(`${e.state!.type}StateEntered`, { name: e.state!.name, input: JSON.stringify(e.state!.input ?? null), inputDetails: { truncated: false } });
        break;
      case 'StateExited':
        add(`${e.state!.type}StateExited`, { name: e.state!.name, output: JSON.stringify(e.state!.output ?? null), outputDetails: { truncated: false } });
        break;
      default:
        break;
    }
  }
}

/** The events of a Task whose Resource is a plain function ARN. */
export function lambdaFunctionEvents(add: AddEvent, functionArn: string, timeoutSeconds: unknown) {
  return {
    scheduled: (input: string) =>
      add('LambdaFunctionScheduled', {
        resource: functionArn,
        input,
        inputDetails: { truncated: false },
        ...(typeof timeoutSeconds === 'number' ? { timeoutInSeconds: timeoutSeconds } : {}),
      }),
    started: () => add('LambdaFunctionStarted'),
    failed: (f: TaskFailure) => add('LambdaFunctionFailed', f),
    succeeded: (output: string) => add('LambdaFunctionSucceeded', { output, outputDetails: { truncated: false } }),
  };
}

/** The events of a `lambda:invoke.waitForTaskToken` Task, as AWS records a callback task. */
export function callbackTaskEvents(add: AddEvent) {
  const resource = { resourceType: 'lambda', resource: 'invoke.waitForTaskToken' };
  return {
    scheduled: (parameters: string, timeoutInSeconds: number | undefined) =>
      add('TaskScheduled', {
        ...resource,
        region: REGION,
        parameters,
        ...(timeoutInSeconds !== undefined ? { timeoutInSeconds } : {}),
      }),
    started: () => add('TaskStarted', resource),
    /** The function itself failed (before the wait). */
    invokeFailed: (f: TaskFailure) => add('TaskFailed', { ...resource, ...f }),
    submitted: (output: string) => add('TaskSubmitted', { ...resource, output, outputDetails: { truncated: false } }),
    succeeded: (output: string) => add('TaskSucceeded', { ...resource, output, outputDetails: { truncated: false } }),
    /** SendTaskFailure, or the wait's timeout (States.Timeout → TaskTimedOut). */
    failed: (error: string, cause: string | undefined) =>
      add(error === 'States.Timeout' ? 'TaskTimedOut' : 'TaskFailed', { ...resource, error, cause }),
  };
}

/** `TaskStateEntered` → `stateEnteredEventDetails`, `LambdaFunctionFailed` → `lambdaFunctionFailedEventDetails`. */
function detailsKey(type: string): string | undefined {
  if (type.endsWith('StateEntered')) return 'stateEnteredEventDetails';
  if (type.endsWith('StateExited')) return 'stateExitedEventDetails';
  if (type === 'LambdaFunctionStarted') return undefined;
  if (type === 'TaskStarted') return 'taskStartedEventDetails';
  return `${type[0]!.toLowerCase()}${type.slice(1)}EventDetails`;
}

/** An event without its input and output (GetExecutionHistory with includeExecutionData: false). */
export function stripData(e: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k.endsWith('EventDetails') && v && typeof v === 'object') {
      const { input: _i, output: _o, ...rest } = v as Record<string, unknown>;
      void _i;
      void _o;
      out[k] = rest;
    } else out[k] = v;
  }
  return out;
}
