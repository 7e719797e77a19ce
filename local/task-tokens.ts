/**
 * Task tokens for `.waitForTaskToken` Task states, which aws-local-stepfunctions 3.0.0 does not support at
 * all. Used by the local Step Functions (local/stepfunctions.ts) and the state-machine test harness.
 *
 * How the wrappers use it: the run context gets `Task.Token` as a getter that mints a fresh token, so
 * `"taskToken.$": "$$.Task.Token"` in Parameters resolves to a new token; the state's local handler invokes
 * the function with the Payload, then `wait`s on the token until SendTaskSuccess / SendTaskFailure, the
 * state's timeout, or the execution's end. SendTask* answer with AWS's error names: `InvalidToken` (not a
 * token this service issued), `TaskDoesNotExist` (the task already completed), `TaskTimedOut` (it timed
 * out), `InvalidOutput` (output not JSON).
 *
 * Timeouts never use real time in tests: the harness calls `expire(token)`; the local stack passes
 * `timeoutMs` and a real timer fires (clamped to Node's 24.8-day setTimeout limit).
 */
import { randomBytes } from 'node:crypto';
import { AwsError } from './aws-protocol';

/** How a waiting task ended. */
export type TaskOutcome = { ok: true; output: string } | { ok: false; error: string; cause: string };

export interface WaitingTask {
  token: string;
  executionArn: string;
  stateName: string;
  since: Date;
  lastHeartbeat?: Date;
}

interface Waiter extends WaitingTask {
  settle: (outcome: TaskOutcome) => void;
  timer?: NodeJS.Timeout;
}

/** The error a timed-out wait raises into the state machine (what Step Functions raises). */
export class StatesTimeoutError extends Error {
  constructor(message = 'The task timed out waiting for SendTaskSuccess or SendTaskFailure.') {
    super(message);
    this.name = 'States.Timeout';
  }
}

const PREFIX = 'AQB'; // AWS tokens are long opaque base64 strings; the prefix lets InvalidToken be told apart.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class TaskTokens {
  private readonly waiting = new Map<string, Waiter>();
  private readonly minted = new Set<string>();
  private readonly closed = new Map<string, 'completed' | 'timedOut'>();
  private readonly listeners = new Set<(task: WaitingTask) => void>();

  /** A fresh opaque token (what `$$.Task.Token` evaluates to). */
  mint(): string {
    const token = `${PREFIX}${randomBytes(96).toString('base64url')}`;
    this.minted.add(token);
    return token;
  }

  /** A run-context `Task` whose `Token` is fresh at each evaluation. */
  contextTask(): { readonly Token: string } {
    const mint = () => this.mint();
    return {
      get Token() {
        return mint();
      },
    };
  }

  /**
   * Waits until the token is answered, expires, or the execution ends. Resolves with the outcome;
   * `timeoutMs` (optional) starts a real timer.
   */
  wait(token: string, task: { executionArn: string; stateName: string; timeoutMs?: number; now?: Date }): Promise<TaskOutcome> {
    if (!this.minted.has(token)) throw new AwsError('InvalidToken', 'Invalid token', 400);
    return new Promise<TaskOutcome>((resolve) => {
      const waiter: Waiter = { token, executionArn: task.executionArn, stateName: task.stateName, since: task.now ?? new Date(), settle: resolve };
      if (task.timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => this.expire(token), Math.min(Math.max(task.timeoutMs, 0), MAX_TIMER_MS));
        waiter.timer.unref?.();
      }
      this.waiting.set(token, waiter);
      for (const l of this.listeners) l(waiter);
    });
  }

  private take(token: string): Waiter {
    if (typeof token !== 'string' || !token.startsWith(PREFIX) || !this.minted.has(token)) {
      throw new AwsError('InvalidToken', 'Invalid token', 400);
    }
    const closed = this.closed.get(token);
    if (closed === 'timedOut') throw new AwsError('TaskTimedOut', 'Task Timed Out: the task this token belongs to has timed out', 400);
    const waiter = this.waiting.get(token);
    if (!waiter) throw new AwsError('TaskDoesNotExist', 'Task Does Not Exist: the task this token belongs to is no longer waiting', 400);
    return waiter;
  }

  private close(waiter: Waiter, how: 'completed' | 'timedOut', outcome: TaskOutcome): void {
    if (waiter.timer) clearTimeout(waiter.timer);
    this.waiting.delete(waiter.token);
    this.closed.set(waiter.token, how);
    waiter.settle(outcome);
  }

  /** SendTaskSuccess. */
  succeed(token: string, output: string): void {
    const waiter = this.take(token);
    try {
      JSON.parse(output);
    } catch {
      throw new AwsError('InvalidOutput', 'Invalid Output: the output is not valid JSON', 400);
    }
    if (Buffer.byteLength(output) > 262_144) throw new AwsError('InvalidOutput', 'Invalid Output: larger than 262144 bytes', 400);
    this.close(waiter, 'completed', { ok: true, output });
  }

  /** SendTaskFailure. */
  fail(token: string, error = '', cause = ''): void {
    const waiter = this.take(token);
    if (error.length > 256) throw new AwsError('ValidationException', 'error: at most 256 characters', 400);
    if (cause.length > 32_768) throw new AwsError('ValidationException', 'cause: at most 32768 characters', 400);
    this.close(waiter, 'completed', { ok: false, error, cause });
  }

  /** SendTaskHeartbeat. */
  heartbeat(token: string, now = new Date()): void {
    this.take(token).lastHeartbeat = now;
  }

  /** The wait's timeout elapsed: the task fails with States.Timeout and later SendTask* get TaskTimedOut. */
  expire(token: string): void {
    const waiter = this.waiting.get(token);
    if (!waiter) return;
    const e = new StatesTimeoutError();
    this.close(waiter, 'timedOut', { ok: false, error: e.name, cause: e.message });
  }

  /** The execution ended (stopped, aborted): its waits end and their tokens no longer exist. */
  endExecution(executionArn: string): void {
    for (const w of [...this.waiting.values()]) {
      if (w.executionArn === executionArn) this.close(w, 'completed', { ok: false, error: 'States.Runtime', cause: 'The execution ended' });
    }
  }

  /** The tasks waiting now. */
  pending(executionArn?: string): WaitingTask[] {
    return [...this.waiting.values()]
      .filter((w) => executionArn === undefined || w.executionArn === executionArn)
      .map(({ token, executionArn: e, stateName, since, lastHeartbeat }) => ({ token, executionArn: e, stateName, since, ...(lastHeartbeat ? { lastHeartbeat } : {}) }));
  }

  /** Resolves when a task of the execution is waiting (at once if one is). */
  waitingFor(executionArn: string): Promise<WaitingTask> {
    const now = this.pending(executionArn)[0];
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const listener = (task: WaitingTask) => {
        if (task.executionArn !== executionArn) return;
        this.listeners.delete(listener);
        resolve(task);
      };
      this.listeners.add(listener);
    });
  }
}

/** The function key of a waitForTaskToken Task (`Parameters.FunctionName` `{"Fn::GetAtt": [key, "Arn"]}`), if it is one. */
export function waitForTaskTokenFunction(state: { Resource?: unknown; Parameters?: unknown }): unknown {
  if (typeof state.Resource !== 'string' || !/^arn:aws[a-z-]*:states:::lambda:invoke\.waitForTaskToken$/.test(state.Resource)) return undefined;
  return (state.Parameters as { FunctionName?: unknown } | undefined)?.FunctionName;
}

/**
 * Normalises a waitForTaskToken Task for aws-local-stepfunctions, which would otherwise apply its own
 * timer (60 s default, or the state's timeout through setTimeout, which overflows past 24.8 days). The
 * wrapper enforces the state's real timeout itself; returns the timeout to enforce (seconds, or a path).
 */
export function detachTaskTimeout(state: Record<string, unknown>): { seconds?: number; path?: string } {
  const out: { seconds?: number; path?: string } = {};
  if (typeof state.TimeoutSeconds === 'number') out.seconds = state.TimeoutSeconds;
  if (typeof state.TimeoutSecondsPath === 'string') out.path = state.TimeoutSecondsPath;
  delete state.TimeoutSecondsPath;
  delete state.HeartbeatSeconds;
  delete state.HeartbeatSecondsPath;
  state.TimeoutSeconds = Math.floor(MAX_TIMER_MS / 1000);
  return out;
}
