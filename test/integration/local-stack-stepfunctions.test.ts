/**
 * The local Step Functions API over aws-local-stepfunctions, through an SFN client configured only from
 * the env file: StartExecution rules and idempotency, DescribeExecution, ListExecutions, AWS-shaped
 * GetExecutionHistory, StopExecution and the status-change event. A fixture ASL (same shape as the real
 * one: GetAtt resources, a CheckTrust ⇄ WaitForTrust loop, Retry, Catch, a Fail with ErrorPath) runs
 * against functions registered in the test, so this file does not depend on the workflow's handlers.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  StartExecutionCommand,
  StopExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import type { LocalStack } from '../../local/stack';
import { failure, startTestStack, type EnvClients } from './local-stack-helpers';

const asl = {
  StartAt: 'RecordConfig',
  States: {
    RecordConfig: {
      Type: 'Task',
      Resource: { 'Fn::GetAtt': ['recordConfig', 'Arn'] },
      Parameters: { 'input.$': '$', 'executionArn.$': '$$.Execution.Id', 'executionName.$': '$$.Execution.Name' },
      ResultPath: '$',
      Retry: [{ ErrorEquals: ['TransientError'], IntervalSeconds: 30, MaxAttempts: 2, BackoffRate: 2, JitterStrategy: 'FULL' }],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' }],
      Next: 'CheckTrust',
    },
    CheckTrust: {
      Type: 'Task',
      Resource: { 'Fn::GetAtt': ['checkTrust', 'Arn'] },
      ResultPath: '$.trust',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' }],
      Next: 'IsTrusted',
    },
    IsTrusted: { Type: 'Choice', Choices: [{ Variable: '$.trust.trusted', BooleanEquals: true, Next: 'Done' }], Default: 'WaitForTrust' },
    WaitForTrust: { Type: 'Wait', SecondsPath: '$.trust.waitSeconds', Next: 'CheckTrust' },
    RecordFailure: { Type: 'Task', Resource: { 'Fn::GetAtt': ['recordFailure', 'Arn'] }, ResultPath: null, Next: 'Failed' },
    Failed: { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
    Done: { Type: 'Succeed' },
  },
};

let stack: LocalStack;
let c: EnvClients;
let smArn: string;
/** Per execution name: what the fixture functions do. */
const behaviour = new Map<string, { transientFailures?: number; fatal?: string; untrustedChecks?: number; hold?: Promise<void> }>();
const calls: { fn: string; input: unknown }[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'local-stack-sfn-'));
  const aslPath = path.join(dir, 'fixture.asl.json');
  writeFileSync(aslPath, JSON.stringify(asl));
  ({ stack, clients: c } = await startTestStack({ aslPath, waitForTrustMs: 5, retryIntervalMs: 1 }));
  smArn = c.env.BINARY_BACKENDS_STATE_MACHINE_ARN!;
  const counters = new Map<string, number>();
  const bump = (k: string) => {
    const n = (counters.get(k) ?? 0) + 1;
    counters.set(k, n);
    return n;
  };
  stack.registerFunction(stack.names.function('recordConfig'), async (event) => {
    const e = event as { input: { id: string }; executionArn: string; executionName: string };
    calls.push({ fn: 'recordConfig', input: e });
    const b = behaviour.get(e.executionName) ?? {};
    if (b.hold) await b.hold;
    if (bump(`rc|${e.executionName}`) <= (b.transientFailures ?? 0)) {
      const err = new Error('throttled');
      err.name = 'TransientError';
      throw err;
    }
    if (b.fatal) {
      const err = new Error(`bad input for ${e.input.id}`);
      err.name = b.fatal;
      throw err;
    }
    return { id: e.input.id, executionName: e.executionName };
  });
  stack.registerFunction(stack.names.function('checkTrust'), async (event) => {
    const e = event as { executionName: string };
    const n = bump(`ct|${e.executionName}`);
    const b = behaviour.get(e.executionName) ?? {};
    return { trusted: n > (b.untrustedChecks ?? 0), attempt: n, waitSeconds: 300 };
  });
  stack.registerFunction(stack.names.function('recordFailure'), async (event) => {
    calls.push({ fn: 'recordFailure', input: event });
    return { recorded: true };
  });
});
afterAll(async () => {
  await stack?.stop();
});

const types = (events: HistoryEvent[] | undefined) => (events ?? []).map((e) => e.type);

describe('Step Functions', () => {
  it('runs the ASL with short waits and records an AWS-shaped history', async () => {
    behaviour.set('loop-1', { untrustedChecks: 2 });
    const sfn = c.sfn();
    const started = await sfn.send(new StartExecutionCommand({ stateMachineArn: smArn, name: 'loop-1', input: JSON.stringify({ id: 'a' }) }));
    expect(started.executionArn).toBe(`${smArn.replace(':stateMachine:', ':execution:')}:loop-1`);
    await stack.waitForExecution(started.executionArn!);
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    expect(d.status).toBe('SUCCEEDED');
    expect(JSON.parse(d.input!)).toEqual({ id: 'a' });
    expect(JSON.parse(d.output!)).toMatchObject({ id: 'a', executionName: 'loop-1', trust: { trusted: true, attempt: 3 } });
    expect(calls.find((x) => x.fn === 'recordConfig' && (x.input as { executionName: string }).executionName === 'loop-1')?.input).toEqual({
      input: { id: 'a' },
      executionArn: started.executionArn,
      executionName: 'loop-1',
    });

    const h = await sfn.send(new GetExecutionHistoryCommand({ executionArn: started.executionArn, maxResults: 1000 }));
    const task = ['TaskStateEntered', 'LambdaFunctionScheduled', 'LambdaFunctionStarted', 'LambdaFunctionSucceeded', 'TaskStateExited'];
    const loop = [...task, 'ChoiceStateEntered', 'ChoiceStateExited', 'WaitStateEntered', 'WaitStateExited'];
    expect(types(h.events)).toEqual([
      'ExecutionStarted',
      ...task,
      ...loop,
      ...loop,
      ...task,
      'ChoiceStateEntered',
      'ChoiceStateExited',
      'SucceedStateEntered',
      'SucceedStateExited',
      'ExecutionSucceeded',
    ]);
    const ids = h.events!.map((e) => e.id);
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    const scheduled = h.events!.find((e) => e.type === 'LambdaFunctionScheduled')!;
    expect(scheduled.lambdaFunctionScheduledEventDetails?.resource).toBe('arn:aws:lambda:us-east-1:111111111111:function:binary-backends-local-record-config');
    expect(h.events![1]!.stateEnteredEventDetails?.name).toBe('RecordConfig');

    const reversed = await sfn.send(new GetExecutionHistoryCommand({ executionArn: started.executionArn, reverseOrder: true, maxResults: 2, includeExecutionData: false }));
    expect(types(reversed.events)).toEqual(['ExecutionSucceeded', 'SucceedStateExited']);
    expect(reversed.events![0]!.executionSucceededEventDetails?.output).toBeUndefined();
    expect(reversed.nextToken).toBeTruthy();
  });

  it('retries, then catches by name; the Fail state carries the error and a Lambda-shaped cause', async () => {
    behaviour.set('retry-1', { transientFailures: 2 });
    behaviour.set('fatal-1', { fatal: 'ValidationError' });
    const sfn = c.sfn();
    const retried = await sfn.send(new StartExecutionCommand({ stateMachineArn: smArn, name: 'retry-1', input: JSON.stringify({ id: 'r' }) }));
    const fatal = await sfn.send(new StartExecutionCommand({ stateMachineArn: smArn, name: 'fatal-1', input: JSON.stringify({ id: 'f' }) }));
    await stack.waitForExecution(retried.executionArn!);
    await stack.waitForExecution(fatal.executionArn!);

    expect((await sfn.send(new DescribeExecutionCommand({ executionArn: retried.executionArn }))).status).toBe('SUCCEEDED');
    const rh = await sfn.send(new GetExecutionHistoryCommand({ executionArn: retried.executionArn }));
    expect(types(rh.events).slice(0, 10)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionFailed',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionFailed',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
    ]);
    expect(rh.events![4]!.lambdaFunctionFailedEventDetails?.error).toBe('TransientError');

    const d = await sfn.send(new DescribeExecutionCommand({ executionArn: fatal.executionArn }));
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('ValidationError');
    expect(JSON.parse(d.cause!)).toMatchObject({ errorType: 'ValidationError', errorMessage: 'bad input for f' });
    const failureInput = calls.find((x) => x.fn === 'recordFailure')?.input as { error: { Error: string; Cause: string } };
    expect(failureInput.error.Error).toBe('ValidationError');
    const fh = await sfn.send(new GetExecutionHistoryCommand({ executionArn: fatal.executionArn }));
    expect(types(fh.events).slice(-3)).toEqual(['TaskStateExited', 'FailStateEntered', 'ExecutionFailed']);
    expect(fh.events!.at(-1)!.executionFailedEventDetails).toMatchObject({ error: 'ValidationError' });
  });

  it('applies StartExecution name rules and idempotency', async () => {
    const sfn = c.sfn();
    let release!: () => void;
    behaviour.set('dedupe-1', { hold: new Promise<void>((r) => (release = r)) });
    const input = JSON.stringify({ id: 'd' });
    const first = await sfn.send(new StartExecutionCommand({ stateMachineArn: smArn, name: 'dedupe-1', input }));
    // Same name and input while running: the original execution, not a new one.
    const again = await sfn.send(new StartExecutionCommand({ stateMachineArn: smArn, name: 'dedupe-1', input }));
    expect(again.executionArn).toBe(first.executionArn);
    expect(again.startDate).toEqual(first.startDate);
    const differs = await failure(sfn.send(new StartExecutionCommand({ stateMachineArn: smArn, name: 'dedupe-1', input: JSON.stringify({ id: 'other' }) })));
    expect(differs).toMatchObject({ name: 'ExecutionAlreadyExists', status: 400 });
    release();
    await stack.waitForExecution(first.executionArn!);
    const closed = await failure(sfn.send(new StartExecutionCommand({ stateMachineArn: smArn, name: 'dedupe-1', input })));
    expect(closed.name).toBe('ExecutionAlreadyExists');

    for (const bad of ['has space', 'a/b', 'x'.repeat(81), 'colon:name']) {
      const e = await failure(sfn.send(new StartExecutionCommand({ stateMachineArn: smArn, name: bad, input })));
      expect(e.name, JSON.stringify(bad)).toMatch(/InvalidName|ValidationException/);
    }
    expect((await failure(sfn.send(new StartExecutionCommand({ stateMachineArn: smArn, name: 'bad-json', input: '{' })))).name).toBe('InvalidExecutionInput');
    expect((await failure(sfn.send(new StartExecutionCommand({ stateMachineArn: `${smArn}-nope`, input })))).name).toBe('StateMachineDoesNotExist');
  });

  it('stops an execution (ABORTED), publishes the status change and routes it to execution-status-change', async () => {
    const seen: { detail: { status: string; executionArn: string } }[] = [];
    stack.registerFunction(stack.names.function('executionStatusChange'), async (event) => {
      seen.push(event as (typeof seen)[number]);
      return {};
    });
    let release!: () => void;
    behaviour.set('stop-1', { hold: new Promise<void>((r) => (release = r)) });
    const sfn = c.sfn();
    const started = await sfn.send(new StartExecutionCommand({ stateMachineArn: smArn, name: 'stop-1', input: '{"id":"s"}' }));
    const running = await sfn.send(new ListExecutionsCommand({ stateMachineArn: smArn, statusFilter: 'RUNNING' }));
    expect(running.executions?.map((e) => e.name)).toEqual(['stop-1']);
    await sfn.send(new StopExecutionCommand({ executionArn: started.executionArn, error: 'Operator', cause: 'stopped by a test' }));
    release();
    await stack.waitForExecution(started.executionArn!);
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    expect(d).toMatchObject({ status: 'ABORTED', error: 'Operator', cause: 'stopped by a test' });
    const h = await sfn.send(new GetExecutionHistoryCommand({ executionArn: started.executionArn }));
    expect(types(h.events).at(-1)).toBe('ExecutionAborted');
    await stack.eventBridge.drain();
    expect(seen.map((e) => [e.detail.status, e.detail.executionArn])).toEqual([['ABORTED', started.executionArn]]);
    const statuses = stack.events
      .filter((e) => e.detailType === 'Step Functions Execution Status Change' && (e.detail as { name: string }).name === 'stop-1')
      .map((e) => (e.detail as { status: string }).status);
    expect(statuses).toEqual(['RUNNING', 'ABORTED']);

    const all = await sfn.send(new ListExecutionsCommand({ stateMachineArn: smArn }));
    const starts = all.executions!.map((e) => e.startDate!.getTime());
    expect(starts).toEqual([...starts].sort((a, b) => b - a));
    expect(all.executions?.[0]?.name).toBe('stop-1');
    expect(await failure(sfn.send(new DescribeExecutionCommand({ executionArn: `${started.executionArn}-x` })))).toMatchObject({ name: 'ExecutionDoesNotExist' });
  });
});
