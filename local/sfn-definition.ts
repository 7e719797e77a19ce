/**
 * The state machine definition (ASL) as the local Step Functions runs it: parsed, normalised for
 * aws-local-stepfunctions 3.0.0 (its `ResultPath: "$"` bug, Task resources mapped to local function ARNs,
 * `.waitForTaskToken` Tasks detached from its timeout handling) and compiled. One reason to change: what
 * aws-local-stepfunctions accepts. When and how often a definition is loaded is local/stepfunctions.ts.
 */
import { AwsError } from './aws-protocol';
import { detachTaskTimeout, waitForTaskTokenFunction } from './task-tokens';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A `.waitForTaskToken` Task's timeout, taken out of the definition: whole seconds, or a TimeoutSecondsPath. */
export type TokenWaits = Record<string, { seconds?: number; path?: string }>;

export type StateMachineLike = {
  run(input: Json, options: object): { abort: () => void; result: Promise<Json>; eventLogs: AsyncGenerator<unknown> };
};

export interface StateJson {
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
export interface StateMachineJson {
  StartAt: string;
  States: Record<string, StateJson>;
  [k: string]: unknown;
}

export function visitStates(def: StateMachineJson, fn: (name: string, state: StateJson) => void): void {
  for (const [name, state] of Object.entries(def.States ?? {})) {
    fn(name, state);
    for (const b of state.Branches ?? []) visitStates(b, fn);
    if (state.Iterator) visitStates(state.Iterator, fn);
    if (state.ItemProcessor) visitStates(state.ItemProcessor, fn);
  }
}

/** The whole seconds at a simple `$.a.b` path of `input` (a TimeoutSecondsPath), or undefined. */
export function secondsAt(input: Json, path: string): number | undefined {
  let v: unknown = input;
  for (const key of path.replace(/^\$\.?/, '').split('.').filter(Boolean)) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : undefined;
}

export function parseDefinition(text: string): StateMachineJson {
  try {
    return JSON.parse(text) as StateMachineJson;
  } catch (err) {
    throw new AwsError('InvalidDefinition', `Invalid State Machine Definition: ${(err as Error).message}`, 400);
  }
}

/**
 * Rewrites `definition` in place for aws-local-stepfunctions; `taskArn` maps a Task's Resource to the local
 * function ARN (or throws InvalidDefinition). Returns the `.waitForTaskToken` Tasks' timeouts.
 */
export function normaliseDefinition(definition: StateMachineJson, taskArn: (stateName: string, resource: unknown) => string): TokenWaits {
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
    if (state.Type === 'Task') state.Resource = taskArn(stateName, state.Resource);
  });
  return tokenWaits;
}

/** The StateMachine (constructing one validates the definition: 0.6-1 s). */
export async function compileDefinition(definition: StateMachineJson): Promise<StateMachineLike> {
  const { StateMachine } = await import('aws-local-stepfunctions');
  let machine: StateMachineLike;
  try {
    machine = new StateMachine(definition as never, { validationOptions: { checkArn: false } }) as unknown as StateMachineLike;
  } catch (err) {
    throw new AwsError('InvalidDefinition', `Invalid State Machine Definition: ${(err as Error).message}`, 400);
  }
  return machine;
}
