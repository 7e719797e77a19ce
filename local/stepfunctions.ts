/**
 * Step Functions stand-in (JSON 1.0): StartExecution, DescribeExecution, ListExecutions,
 * GetExecutionHistory, StopExecution, DescribeStateMachine, ListStateMachines, over aws-local-stepfunctions
 * running statemachine/onboarding.asl.json (re-read at every StartExecution).
 *
 * - Each Task's `Resource` (`{"Fn::GetAtt": [key, "Arn"]}` or a function ARN) is mapped to the local
 *   function `binary-backends-local-<suffix>` and run through the Lambda registry (the real handlers).
 * - A function error reaches the state machine the way AWS passes it: Error = errorType, Cause = the JSON
 *   `{errorType, errorMessage, trace}` (not the plain message that aws-local-stepfunctions alone gives),
 *   through local/task-bridge.ts, the bridge the state-machine tests use too.
 * - Wait states and retry intervals are shortened by configuration, so the same ASL runs in seconds.
 * - History is AWS-shaped: the local event log is converted to ExecutionStarted, <Type>StateEntered/Exited,
 *   LambdaFunctionScheduled/Started/Succeeded/Failed (what AWS records for a Task whose Resource is a plain
 *   function ARN, as ours are), ExecutionSucceeded/Failed/Aborted/TimedOut with error and cause.
 * - Status changes are published to EventBridge as `aws.states` *Step Functions Execution Status Change*.
 * - `lambda:invoke.waitForTaskToken` Tasks (RequestApproval), which aws-local-stepfunctions does not
 *   support, run through local/task-tokens.ts: `$$.Task.Token` mints a token, the function is invoked with
 *   the Payload, and the state waits for SendTaskSuccess / SendTaskFailure (also in `operations()`, with
 *   SendTaskHeartbeat) or its timeout. History: TaskScheduled, TaskStarted, TaskSubmitted, then
 *   TaskSucceeded / TaskFailed / TaskTimedOut, as AWS records a callback task.
 */
import './polyfills';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AwsError } from './aws-protocol';
import { REGION } from './identity';
import { epoch, str, type JsonOperation } from './json-service';
import { FunctionError, FUNCTIONS, type LambdaRegistry } from './lambda';
import { runLambdaTask, type LambdaErrorPayload } from './task-bridge';
import type { LocalEventBridge } from './eventbridge';
import { TaskTokens, detachTaskTimeout, waitForTaskTokenFunction } from './task-tokens';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * What the Lambda registry threw, as Lambda reports it: a function error as is; anything else (the function
 * could not be invoked at all) as the service error Step Functions would see, Lambda.ServiceException.
 */
function registryErrorPayload(err: unknown): LambdaErrorPayload {
  if (err instanceof FunctionError) return { errorType: err.errorType, errorMessage: err.errorMessage, trace: err.trace };
  return { errorType: 'Lambda.ServiceException', errorMessage: (err as Error)?.message ?? String(err), trace: [] };
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface HistoryEvent {
  timestamp: Date;
  type: string;
  id: number;
  previousEventId: number;
  [details: string]: unknown;
}

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
  private readonly createdAt = new Date();
  private machineCache?: { text: string; definition: StateMachineJson; machine: StateMachineLike; tokenWaits: Record<string, { seconds?: number; path?: string }> };
  /** Task tokens of `.waitForTaskToken` states (SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat). */
  readonly tokens = new TaskTokens();

  constructor(private readonly o: StepFunctionsOptions) {
    this.stateMachineArn = `arn:aws:states:${REGION}:${o.accountId}:stateMachine:${o.stateMachineName}`;
  }

  executionArn(name: string): string {
    return `arn:aws:states:${REGION}:${this.o.accountId}:execution:${this.o.stateMachineName}:${name}`;
  }

  private get(arn: string): Execution {
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
    const e = this.get(executionArn);
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
    const add = (type: string, details?: Record<string, unknown>) => {
      if (exec.status === 'ABORTED') return; // nothing is recorded after ExecutionAborted
      const id = history.length + 1;
      const key = detailsKey(type);
      history.push({ timestamp: new Date(), type, id, previousEventId: id - 1, ...(details && key ? { [key]: details } : {}) });
    };
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
        const inputJson = JSON.stringify(taskInput);
        add('LambdaFunctionScheduled', {
          resource: functionArn,
          input: inputJson,
          inputDetails: { truncated: false },
          ...(typeof state.TimeoutSeconds === 'number' ? { timeoutInSeconds: state.TimeoutSeconds } : {}),
        });
        add('LambdaFunctionStarted');
        const out = await runLambdaTask<Json>((event) => this.o.registry.invoke(functionName, event), taskInput, {
          toPayload: registryErrorPayload,
          onFailure: (f) => add('LambdaFunctionFailed', f),
        });
        add('LambdaFunctionSucceeded', { output: JSON.stringify(out), outputDetails: { truncated: false } });
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

    const consume = (async () => {
      for await (const ev of run.eventLogs) {
        const e = ev as { type: string; state?: { name: string; type: string; input?: unknown; output?: unknown }; Error?: string; Cause?: unknown; output?: unknown };
        if (exec.status !== 'RUNNING' && e.type !== 'ExecutionAborted') continue;
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
    })();

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
    const exec = this.get(executionArn);
    if (exec.status !== 'RUNNING') return exec;
    exec.status = 'ABORTED';
    exec.stopDate = new Date();
    exec.error = error;
    exec.cause = cause;
    const id = exec.history.length + 1;
    exec.history.push({
      timestamp: exec.stopDate,
      type: 'ExecutionAborted',
      id,
      previousEventId: id - 1,
      executionAbortedEventDetails: { ...(error ? { error } : {}), ...(cause ? { cause } : {}) },
    });
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
    add: (type: string, details?: Record<string, unknown>) => void,
  ): (input: Json) => Promise<Json> {
    const functionName = this.functionFor(stateName, waitForTaskTokenFunction(state));
    const resource = { resourceType: 'lambda', resource: 'invoke.waitForTaskToken' };
    return async (parameters: Json) => {
      await new Promise<void>((r) => setImmediate(r));
      const p = (parameters ?? {}) as { Payload?: Json };
      const payload = (p.Payload ?? {}) as { taskToken?: unknown; input?: Json };
      const seconds = timeout.seconds ?? (timeout.path ? secondsAt(payload.input ?? null, timeout.path) : undefined);
      add('TaskScheduled', {
        ...resource,
        region: REGION,
        parameters: JSON.stringify({ ...p, FunctionName: this.o.registry.functionArn(functionName) }),
        ...(seconds !== undefined ? { timeoutInSeconds: seconds } : {}),
      });
      add('TaskStarted', resource);
      const invokeResult = await runLambdaTask<Json>((event) => this.o.registry.invoke(functionName, event), payload, {
        toPayload: registryErrorPayload,
        onFailure: (f) => add('TaskFailed', { ...resource, ...f }),
      });
      add('TaskSubmitted', { ...resource, output: JSON.stringify({ Payload: invokeResult, StatusCode: 200 }), outputDetails: { truncated: false } });
      const timeoutMs = this.o.taskTokenTimeoutMs ?? (seconds !== undefined ? seconds * 1000 : undefined);
      const outcome = await this.tokens.wait(String(payload.taskToken), { executionArn: exec.executionArn, stateName, timeoutMs });
      if (outcome.ok) {
        add('TaskSucceeded', { ...resource, output: outcome.output, outputDetails: { truncated: false } });
        return JSON.parse(outcome.output) as Json;
      }
      add(outcome.error === 'States.Timeout' ? 'TaskTimedOut' : 'TaskFailed', { ...resource, error: outcome.error, cause: outcome.cause });
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
  private async loadMachine(): Promise<{
    definition: StateMachineJson;
    machine: StateMachineLike;
    tokenWaits: Record<string, { seconds?: number; path?: string }>;
  }> {
    let text: string;
    try {
      text = await readFile(this.o.aslPath, 'utf8');
    } catch {
      throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${this.stateMachineArn}' (no ${this.o.aslPath} yet)`, 400);
    }
    if (this.machineCache?.text === text) return this.machineCache;
    let definition: StateMachineJson;
    try {
      definition = JSON.parse(text) as StateMachineJson;
    } catch (err) {
      throw new AwsError('InvalidDefinition', `Invalid State Machine Definition: ${(err as Error).message}`, 400);
    }
    const tokenWaits: Record<string, { seconds?: number; path?: string }> = {};
    visitStates(definition, (stateName, state) => {
      if (state.Type === 'Task' && waitForTaskTokenFunction(state)) {
        // aws-local-stepfunctions 3.0.0 has no task tokens: the wrapper waits, and enforces the timeout itself.
        tokenWaits[stateName] = detachTaskTimeout(state);
        return;
      }
      // aws-local-stepfunctions 3.0.0 bug: `ResultPath: "$"` stores the result under a key named "$"
      // instead of replacing the input. "$" is ResultPath's default, so dropping it is equivalent.
      if (state.ResultPath === '$') delete state.ResultPath;
      for (const catcher of (state.Catch ?? []) as { ResultPath?: unknown }[]) {
        if (catcher.ResultPath === '$') delete catcher.ResultPath;
      }
      if (state.Type === 'Task') state.Resource = this.o.registry.functionArn(this.functionFor(stateName, state.Resource));
    });
    const { StateMachine } = await import('aws-local-stepfunctions');
    let machine: StateMachineLike;
    try {
      machine = new StateMachine(definition as never, { validationOptions: { checkArn: false } }) as unknown as StateMachineLike;
    } catch (err) {
      throw new AwsError('InvalidDefinition', `Invalid State Machine Definition: ${(err as Error).message}`, 400);
    }
    this.machineCache = { text, definition, machine, tokenWaits };
    return this.machineCache;
  }

  private summary(e: Execution) {
    return {
      executionArn: e.executionArn,
      stateMachineArn: e.stateMachineArn,
      name: e.name,
      status: e.status,
      startDate: epoch(e.startDate),
      ...(e.stopDate ? { stopDate: epoch(e.stopDate) } : {}),
    };
  }

  operations(): Record<string, JsonOperation> {
    return {
      StartExecution: async (input) => {
        const e = await this.start({
          stateMachineArn: str(input, 'stateMachineArn'),
          name: str(input, 'name', false) || undefined,
          input: typeof input.input === 'string' ? input.input : undefined,
        });
        return { executionArn: e.executionArn, startDate: epoch(e.startDate) };
      },
      DescribeExecution: (input) => {
        const e = this.get(str(input, 'executionArn'));
        return {
          ...this.summary(e),
          input: e.input,
          inputDetails: { included: true },
          ...(e.output !== undefined ? { output: e.output, outputDetails: { included: true } } : {}),
          ...(e.error !== undefined ? { error: e.error } : {}),
          ...(e.cause !== undefined ? { cause: e.cause } : {}),
          redriveCount: 0,
          redriveStatus: 'NOT_REDRIVABLE',
        };
      },
      ListExecutions: (input) => {
        const smArn = str(input, 'stateMachineArn');
        if (smArn !== this.stateMachineArn) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${smArn}'`, 400);
        const filter = str(input, 'statusFilter', false);
        const all = [...this.executions.values()]
          .filter((e) => !filter || e.status === filter)
          .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
        return paginate(all.map((e) => this.summary(e)), input, 'executions', 100);
      },
      GetExecutionHistory: (input) => {
        const e = this.get(str(input, 'executionArn'));
        const includeData = input.includeExecutionData !== false;
        let events = e.history.map((h) => ({ ...h, timestamp: epoch(h.timestamp) }) as Record<string, unknown>);
        if (!includeData) events = events.map(stripData);
        if (input.reverseOrder === true) events = events.reverse();
        return paginate(events, input, 'events', 100);
      },
      StopExecution: (input) => {
        const e = this.stop(str(input, 'executionArn'), str(input, 'error', false) || undefined, str(input, 'cause', false) || undefined);
        return { stopDate: epoch(e.stopDate ?? new Date()) };
      },
      DescribeStateMachine: async (input) => {
        const arn = str(input, 'stateMachineArn');
        if (arn !== this.stateMachineArn) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`, 400);
        let definition = '';
        try {
          definition = await readFile(this.o.aslPath, 'utf8');
        } catch {
          // not written yet
        }
        return {
          stateMachineArn: this.stateMachineArn,
          name: this.o.stateMachineName,
          status: 'ACTIVE',
          definition,
          roleArn: this.o.roleArn,
          type: 'STANDARD',
          creationDate: epoch(this.createdAt),
        };
      },
      SendTaskSuccess: (input) => {
        this.tokens.succeed(str(input, 'taskToken'), str(input, 'output'));
        return {};
      },
      SendTaskFailure: (input) => {
        this.tokens.fail(str(input, 'taskToken'), str(input, 'error', false) || undefined, str(input, 'cause', false) || undefined);
        return {};
      },
      SendTaskHeartbeat: (input) => {
        this.tokens.heartbeat(str(input, 'taskToken'));
        return {};
      },
      ListStateMachines: () => ({
        stateMachines: [{ stateMachineArn: this.stateMachineArn, name: this.o.stateMachineName, type: 'STANDARD', creationDate: epoch(this.createdAt) }],
      }),
    };
  }
}

type StateMachineLike = {
  run(input: Json, options: object): { abort: () => void; result: Promise<Json>; eventLogs: AsyncGenerator<unknown> };
};

interface StateJson {
  Type: string;
  Resource?: unknown;
  Retry?: unknown[];
  Catch?: unknown[];
  ResultPath?: unknown;
  TimeoutSeconds?: number;
  Branches?: StateMachineJson[];
  Iterator?: StateMachineJson;
  ItemProcessor?: StateMachineJson;
  [k: string]: unknown;
}
interface StateMachineJson {
  StartAt: string;
  States: Record<string, StateJson>;
  [k: string]: unknown;
}

function visitStates(def: StateMachineJson, fn: (name: string, state: StateJson) => void): void {
  for (const [name, state] of Object.entries(def.States ?? {})) {
    fn(name, state);
    for (const b of state.Branches ?? []) visitStates(b, fn);
    if (state.Iterator) visitStates(state.Iterator, fn);
    if (state.ItemProcessor) visitStates(state.ItemProcessor, fn);
  }
}

/** The whole seconds at a simple `$.a.b` path of `input` (a TimeoutSecondsPath), or undefined. */
function secondsAt(input: Json, path: string): number | undefined {
  let v: unknown = input;
  for (const key of path.replace(/^\$\.?/, '').split('.').filter(Boolean)) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : undefined;
}

/** `TaskStateEntered` → `stateEnteredEventDetails`, `LambdaFunctionFailed` → `lambdaFunctionFailedEventDetails`. */
function detailsKey(type: string): string | undefined {
  if (type.endsWith('StateEntered')) return 'stateEnteredEventDetails';
  if (type.endsWith('StateExited')) return 'stateExitedEventDetails';
  if (type === 'LambdaFunctionStarted') return undefined;
  if (type === 'TaskStarted') return 'taskStartedEventDetails';
  return `${type[0]!.toLowerCase()}${type.slice(1)}EventDetails`;
}

function stripData(e: Record<string, unknown>): Record<string, unknown> {
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

function paginate<T>(items: T[], input: Record<string, unknown>, field: string, defaultMax: number): Record<string, unknown> {
  const max = typeof input.maxResults === 'number' && input.maxResults > 0 ? Math.min(input.maxResults, 1000) : defaultMax;
  const start = typeof input.nextToken === 'string' ? Number(Buffer.from(input.nextToken, 'base64').toString('utf8')) || 0 : 0;
  const page = items.slice(start, start + max);
  const next = start + max < items.length ? Buffer.from(String(start + max)).toString('base64') : undefined;
  return { [field]: page, ...(next ? { nextToken: next } : {}) };
}
