/**
 * Step Functions stand-in: the executions, over aws-local-stepfunctions running
 * statemachine/onboarding.asl.json (re-read at every StartExecution). Its wire operations (StartExecution,
 * DescribeExecution, ListExecutions, GetExecutionHistory, StopExecution, DescribeStateMachine,
 * ListStateMachines, SendTask*) are local/sfn-api.ts; the history events it records are built by
 * local/sfn-history.ts; the ASL is parsed, normalised and compiled by local/sfn-definition.ts.
 *
 * - Each Task's `Resource` (`{"Fn::GetAtt": [key, "Arn"]}` or a function ARN) is mapped to the local
 *   function `binary-backends-local-<suffix>` and run through the Lambda registry (the real handlers).
 * - A function error reaches the state machine the way AWS passes it: Error = errorType, Cause = the JSON
 *   `{errorType, errorMessage, trace}` (not the plain message that aws-local-stepfunctions alone gives),
 *   through local/task-bridge.ts, the bridge the state-machine tests use too.
 * - Wait states and retry intervals are shortened by configuration, so the same ASL runs in seconds.
 * - History is AWS-shaped (local/sfn-history.ts): the local event log is converted to ExecutionStarted,
 *   <Type>StateEntered/Exited, LambdaFunctionScheduled/Started/Succeeded/Failed (what AWS records for a Task
 *   whose Resource is a plain function ARN, as ours are), ExecutionSucceeded/Failed/Aborted/TimedOut with
 *   error and cause.
 * - Status changes are published to EventBridge as `aws.states` *Step Functions Execution Status Change*.
 * - `lambda:invoke.waitForTaskToken` Tasks (RequestApproval), which aws-local-stepfunctions does not
 *   support, run through local/task-tokens.ts: `$$.Task.Token` mints a token, the function is invoked with
 *   the Payload, and the state waits for SendTaskSuccess / SendTaskFailure (local/sfn-api.ts, with
 *   SendTaskHeartbeat) or its timeout. History: TaskScheduled, TaskStarted, TaskSubmitted, then
 *   TaskSucceeded / TaskFailed / TaskTimedOut, as AWS records a callback task.
 */
import './polyfills';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AwsError } from './aws-protocol';
import { REGION } from './identity';
import { FunctionError, FUNCTIONS, type LambdaRegistry } from './lambda';
import { runLambdaTask, type LambdaErrorPayload } from './task-bridge';
import {
  appendAborted,
  callbackTaskEvents,
  historyRecorder,
  lambdaFunctionEvents,
  recordStateEvents,
  type AddEvent,
  type ExecutionStatus,
  type HistoryEvent,
} from './sfn-history';
import type { LocalEventBridge } from './eventbridge';
import { TaskTokens, waitForTaskTokenFunction } from './task-tokens';
import {
  compileDefinition,
  normaliseDefinition,
  parseDefinition,
  secondsAt,
  visitStates,
  type Json,
  type StateJson,
  type StateMachineJson,
  type StateMachineLike,
  type TokenWaits,
} from './sfn-definition';

/**
 * What the Lambda registry threw, as Lambda reports it: a function error as is; anything else (the function
 * could not be invoked at all) as the service error Step Functions would see, Lambda.ServiceException.
 */
function registryErrorPayload(err: unknown): LambdaErrorPayload {
  if (err instanceof FunctionError) return { errorType: err.errorType, errorMessage: err.errorMessage, trace: err.trace };
  return { errorType: 'Lambda.ServiceException', errorMessage: (err as Error)?.message ?? String(err), trace: [] };
}

export type { ExecutionStatus, HistoryEvent };

export interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
  history: HistoryEvent[];
  /** Resolves when the execution has ended. */
  done: Promise<void>;
  abort?: () => void;
}

export interface StepFunctionsOptions {
  accountId: string;
  stage: string;
  aslPath: string;
  stateMachineName: string;
  roleArn: string;
  registry: LambdaRegistry;
  events: LocalEventBridge;
  /** Every Wait state pauses this long (ms) unless `waitTimeOverridesMs` names it. */
  waitMs: number;
  waitTimeOverridesMs?: Record<string, number>;
  /** Every Retry waits this long (ms) between attempts. */
  retryIntervalMs: number;
  /** Task-token waits time out after this many ms instead of their TimeoutSeconds(Path) (tests, demos). */
  taskTokenTimeoutMs?: number;
}

// Step Functions execution names: 1-80 chars, none of these (aws-facts.md section 5).
// eslint-disable-next-line no-control-regex
const BAD_NAME_CHARS = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f\ufffe\uffff]/;

function badName(name: string): boolean {
  return name.length < 1 || name.length > 80 || BAD_NAME_CHARS.test(name) || /[\ud800-\udfff]/.test(name);
}

const STATUS_CHANGE = 'Step Functions Execution Status Change';

export class LocalStepFunctions {
  readonly stateMachineArn: string;
  readonly executions = new Map<string, Execution>();
  private machineCache?: { text: string; definition: StateMachineJson; machine: StateMachineLike; tokenWaits: TokenWaits };
  /** Task tokens of `.waitForTaskToken` states (SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat). */
  readonly tokens = new TaskTokens();

  /** The one state machine, as DescribeStateMachine / ListStateMachines describe it. */
  readonly machine: { stateMachineArn: string; stateMachineName: string; roleArn: string; aslPath: string; createdAt: Date };

  constructor(private readonly o: StepFunctionsOptions) {
    this.stateMachineArn = `arn:aws:states:${REGION}:${o.accountId}:stateMachine:${o.stateMachineName}`;
    this.machine = { stateMachineArn: this.stateMachineArn, stateMachineName: o.stateMachineName, roleArn: o.roleArn, aslPath: o.aslPath, createdAt: new Date() };
  }

  executionArn(name: string): string {
    return `arn:aws:states:${REGION}:${this.o.accountId}:execution:${this.o.stateMachineName}:${name}`;
  }

  /** The execution with this ARN, or ExecutionDoesNotExist. */
  execution(arn: string): Execution {
    const e = this.executions.get(arn);
    if (!e) throw new AwsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`, 400);
    return e;
  }

  /** Resolves when every execution has ended (tests; the stack's stop aborts them instead). */
  async waitForAll(): Promise<void> {
    await Promise.all([...this.executions.values()].map((e) => e.done));
  }

  /** Resolves with the execution once it is no longer RUNNING. */
  async waitFor(executionArn: string): Promise<Execution> {
    const e = this.execution(executionArn);
    await e.done;
    return e;
  }

  async start(p: { stateMachineArn: string; name?: string; input?: string }): Promise<Execution> {
    if (p.stateMachineArn !== this.stateMachineArn) {
      if (!/^arn:aws:states:[a-z0-9-]+:\d{12}:stateMachine:[^:]+$/.test(p.stateMachineArn)) {
        throw new AwsError('InvalidArn', `Invalid Arn: '${p.stateMachineArn}'`, 400);
      }
      throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${p.stateMachineArn}'`, 400);
    }
    const name = p.name ?? randomUUID();
    if (badName(name)) throw new AwsError('InvalidName', `Invalid Name: '${name}'`, 400);
    const inputText = p.input ?? '{}';
    if (Buffer.byteLength(inputText) > 262_144) {
      throw new AwsError('ValidationException', 'Input exceeds the maximum size of 262144 bytes', 400);
    }
    let input: Json;
    try {
      input = JSON.parse(inputText) as Json;
    } catch {
      throw new AwsError('InvalidExecutionInput', `Invalid State Machine Execution Input: 'Unexpected token in JSON'`, 400);
    }
    const arn = this.executionArn(name);
    const existing = this.executions.get(arn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === inputText) return existing;
      throw new AwsError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`, 400);
    }
    const { definition, machine, tokenWaits } = await this.loadMachine();
    const history: HistoryEvent[] = [];
    let resolveDone!: () => void;
    const exec: Execution = {
      executionArn: arn,
      stateMachineArn: this.stateMachineArn,
      name,
      status: 'RUNNING',
      startDate: new Date(),
      input: inputText,
      history,
      done: new Promise<void>((r) => (resolveDone = r)),
    };
    this.executions.set(arn, exec);
    const add = historyRecorder(history, () => exec.status === 'ABORTED');
    add('ExecutionStarted', { input: inputText, inputDetails: { truncated: false }, roleArn: this.o.roleArn });
    this.statusChange(exec);

    const taskHandlers: Record<string, (input: Json) => Promise<Json>> = {};
    const waitOverrides: Record<string, number> = {};
    const retryOverrides: Record<string, number> = {};
    visitStates(definition, (stateName, state) => {
      if (state.Retry) retryOverrides[stateName] = this.o.retryIntervalMs;
      if (state.Type === 'Wait') waitOverrides[stateName] = this.o.waitTimeOverridesMs?.[stateName] ?? this.o.waitMs;
      if (state.Type !== 'Task') return;
      if (tokenWaits[stateName]) {
        taskHandlers[stateName] = this.tokenWaitHandler(exec, stateName, state, tokenWaits[stateName]!, add);
        return;
      }
      const functionName = this.functionFor(stateName, state.Resource);
      const functionArn = this.o.registry.functionArn(functionName);
      taskHandlers[stateName] = async (taskInput: Json) => {
        // Let the event-log consumer record <Type>StateEntered first, so history stays in order.
        await new Promise<void>((r) => setImmediate(r));
        const events = lambdaFunctionEvents(add, functionArn, state.TimeoutSeconds);
        events.scheduled(JSON.stringify(taskInput));
        events.started();
        const out = await runLambdaTask<Json>((event) => this.o.registry.invoke(functionName, event), taskInput, {
          toPayload: registryErrorPayload,
          onFailure: events.failed,
        });
        events.succeeded(JSON.stringify(out));
        return out;
      };
    });

    const run = machine.run(input, {
      noThrowOnAbort: true,
      context: {
        Execution: { Id: arn, Name: name, RoleArn: this.o.roleArn, StartTime: exec.startDate.toISOString() },
        StateMachine: { Id: this.stateMachineArn, Name: this.o.stateMachineName },
        Task: this.tokens.contextTask(),
      },
      overrides: {
        taskResourceLocalHandlers: taskHandlers as never,
        waitTimeOverrides: waitOverrides,
        retryIntervalOverrides: retryOverrides,
      },
    });
    exec.abort = run.abort;

    const consume = recordStateEvents(run.eventLogs, add, () => exec.status === 'RUNNING');

    void run.result.then(
      async (result) => {
        await consume.catch(() => undefined);
        if (exec.status !== 'RUNNING') return; // stopped
        exec.status = 'SUCCEEDED';
        exec.output = JSON.stringify(result);
        add('ExecutionSucceeded', { output: exec.output, outputDetails: { truncated: false } });
      },
      async (err: Error) => {
        await consume.catch(() => undefined);
        if (exec.status !== 'RUNNING') return;
        const timedOut = err?.name === 'ExecutionTimeoutError' || err?.constructor?.name === 'ExecutionTimeoutError';
        const cause = (err as Error & { cause?: Error }).cause;
        if (timedOut) {
          exec.status = 'TIMED_OUT';
          exec.error = 'States.Timeout';
          exec.cause = 'The execution timed out.';
          add('ExecutionTimedOut', { error: exec.error, cause: exec.cause });
        } else {
          exec.status = 'FAILED';
          exec.error = cause?.name ?? err?.name ?? 'States.Runtime';
          exec.cause = cause?.message ?? err?.message ?? '';
          add('ExecutionFailed', { error: exec.error, cause: exec.cause });
        }
      },
    ).finally(() => {
      this.tokens.endExecution(exec.executionArn);
      if (exec.status !== 'ABORTED') {
        exec.stopDate = new Date();
        this.statusChange(exec);
      }
      resolveDone();
    });
    return exec;
  }

  stop(executionArn: string, error?: string, cause?: string): Execution {
    const exec = this.execution(executionArn);
    if (exec.status !== 'RUNNING') return exec;
    exec.status = 'ABORTED';
    exec.stopDate = new Date();
    exec.error = error;
    exec.cause = cause;
    appendAborted(exec.history, exec.stopDate, error, cause);
    exec.abort?.();
    this.tokens.endExecution(exec.executionArn);
    this.statusChange(exec);
    return exec;
  }

  /**
   * The local handler of a `lambda:invoke.waitForTaskToken` Task: invokes the function with the Payload
   * (the token in it came from `$$.Task.Token`), then waits on the token. History as AWS records it.
   */
  private tokenWaitHandler(
    exec: Execution,
    stateName: string,
    state: StateJson,
    timeout: { seconds?: number; path?: string },
    add: AddEvent,
  ): (input: Json) => Promise<Json> {
    const functionName = this.functionFor(stateName, waitForTaskTokenFunction(state));
    const events = callbackTaskEvents(add);
    return async (parameters: Json) => {
      await new Promise<void>((r) => setImmediate(r));
      const p = (parameters ?? {}) as { Payload?: Json };
      const payload = (p.Payload ?? {}) as { taskToken?: unknown; input?: Json };
      const seconds = timeout.seconds ?? (timeout.path ? secondsAt(payload.input ?? null, timeout.path) : undefined);
      events.scheduled(JSON.stringify({ ...p, FunctionName: this.o.registry.functionArn(functionName) }), seconds);
      events.started();
      const invokeResult = await runLambdaTask<Json>((event) => this.o.registry.invoke(functionName, event), payload, {
        toPayload: registryErrorPayload,
        onFailure: events.invokeFailed,
      });
      events.submitted(JSON.stringify({ Payload: invokeResult, StatusCode: 200 }));
      const timeoutMs = this.o.taskTokenTimeoutMs ?? (seconds !== undefined ? seconds * 1000 : undefined);
      const outcome = await this.tokens.wait(String(payload.taskToken), { executionArn: exec.executionArn, stateName, timeoutMs });
      if (outcome.ok) {
        events.succeeded(outcome.output);
        return JSON.parse(outcome.output) as Json;
      }
      events.failed(outcome.error, outcome.cause);
      const e = new Error(outcome.cause);
      e.name = outcome.error;
      throw e;
    };
  }

  /** Aborts every running execution without events (stack shutdown). */
  abortAll(): void {
    for (const e of this.executions.values()) {
      if (e.status === 'RUNNING') {
        e.status = 'ABORTED';
        e.stopDate = new Date();
        e.abort?.();
      }
    }
  }

  private statusChange(e: Execution): void {
    this.o.events.publish({
      bus: 'default',
      account: this.o.accountId,
      source: 'aws.states',
      detailType: STATUS_CHANGE,
      resources: [e.executionArn],
      detail: {
        executionArn: e.executionArn,
        stateMachineArn: e.stateMachineArn,
        name: e.name,
        status: e.status,
        startDate: e.startDate.getTime(),
        stopDate: e.stopDate ? e.stopDate.getTime() : null,
        input: e.input,
        inputDetails: { included: true },
        output: e.output ?? null,
        outputDetails: e.output === undefined ? null : { included: true },
        error: e.error ?? null,
        cause: e.cause ?? null,
      },
    });
  }

  private functionFor(stateName: string, resource: unknown): string {
    const getAtt = (resource as { 'Fn::GetAtt'?: unknown })?.['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') {
      const f = FUNCTIONS.find((x) => x.key === getAtt[0]);
      if (!f) throw new AwsError('InvalidDefinition', `Task ${stateName}: no function with key ${getAtt[0]}`, 400);
      return this.o.registry.functionName(f.key);
    }
    if (typeof resource === 'string') {
      const name = this.o.registry.resolve(resource);
      if (name) return name;
    }
    throw new AwsError('InvalidDefinition', `Task ${stateName}: unsupported Resource ${JSON.stringify(resource)}`, 400);
  }

  /**
   * The ASL, normalised for aws-local-stepfunctions, and its StateMachine, cached per file content:
   * constructing one validates the definition, which costs 0.6-1 s each time.
   */
  private async loadMachine(): Promise<{ definition: StateMachineJson; machine: StateMachineLike; tokenWaits: TokenWaits }> {
    let text: string;
    try {
      text = await readFile(this.o.aslPath, 'utf8');
    } catch {
      throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${this.stateMachineArn}' (no ${this.o.aslPath} yet)`, 400);
    }
    if (this.machineCache?.text === text) return this.machineCache;
    const definition = parseDefinition(text);
    const tokenWaits = normaliseDefinition(definition, (stateName, resource) => this.o.registry.functionArn(this.functionFor(stateName, resource)));
    const machine = await compileDefinition(definition);
    this.machineCache = { text, definition, machine, tokenWaits };
    return this.machineCache;
  }
}
