import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { createHandler } from '../../functions/deactivate/handler';
import { handlerFor } from '#shared/handler';
import { isSmokeEvent, runProbes } from '#shared/smoke';
import { SMOKE_KEY, tableProbes } from '#shared/smoke-probes';
import { runCli } from '../../cli/main';
import { capture } from '../e2e/helpers/capture';
import { useRecordsTableAndEventBus } from './helpers/records-table';

const named = (name: string, message = name) => Object.assign(new Error(message), { name });

describe('Function: smoke mode', () => {
  const { table, eventsMock } = useRecordsTableAndEventBus({ acceptEvents: false });


  it('recognises only the exact event {"smoke": true}', () => {
    expect(isSmokeEvent({ smoke: true })).toBe(true);
    for (const e of [{ smoke: 'true' }, { smoke: true, orgId: 'x' }, [true], null, 'smoke', {}]) expect(isSmokeEvent(e), JSON.stringify(e)).toBe(false);
  });

  it('reads a not-found or failed condition as authorized, and names the action of any other error', async () => {
    // Act
    const report = await runProbes([
      { action: 'states:DescribeExecution', authorizedWhen: ['ExecutionDoesNotExist'], run: () => Promise.reject(named('ExecutionDoesNotExist')) },
      { action: 'dynamodb:GetItem', run: () => Promise.resolve({}) },
      { action: 'events:PutEvents', run: () => Promise.reject(named('AccessDeniedException', 'not authorized to perform: events:PutEvents')) },
      { action: 'iam:GetRole', authorizedWhen: ['NoSuchEntity'], run: () => Promise.reject(named('AccessDenied')) },
    ]);
    // Assess
    expect(report.smoke).toBe('FAIL');
    expect(report.checks.map((c) => [c.action, c.result, c.error])).toEqual([
      ['states:DescribeExecution', 'PASS', undefined],
      ['dynamodb:GetItem', 'PASS', undefined],
      ['events:PutEvents', 'FAIL', 'AccessDeniedException'],
      ['iam:GetRole', 'FAIL', 'AccessDenied'],
    ]);
    expect(report.checks[2]!.message).toContain('events:PutEvents');
  });

  it('exercises GetItem, UpdateItem, PutItem and Query on the real table and writes nothing', async () => {
    const report = await runProbes(tableProbes(table, ['GetItem', 'UpdateItem', 'PutItem', 'Query']));
    expect(report).toEqual({
      smoke: 'PASS',
      checks: [
        { action: 'dynamodb:GetItem', result: 'PASS' },
        { action: 'dynamodb:UpdateItem', result: 'PASS' },
        { action: 'dynamodb:PutItem', result: 'PASS' },
        { action: 'dynamodb:Query', result: 'PASS' },
      ],
    });
    expect(await table.ddb.send(new (await import('@aws-sdk/lib-dynamodb')).GetCommand({ TableName: table.tableName, Key: SMOKE_KEY }))).not.toHaveProperty('Item');
  });

  it('runs the probes instead of the function, and reports the failing action', async () => {
    // Prepare: the deactivate function, whose role may put events, is denied PutEvents.
    eventsMock.on(PutEventsCommand).rejects(named('AccessDeniedException', 'User is not authorized to perform: events:PutEvents'));
    const handler = createHandler({ store: table, events: new EventBridgeClient({ region: 'us-east-1' }), eventBusName: 'bus', clock: () => new Date() });
    // Act
    const report = (await handler({ smoke: true }, {} as never)) as unknown as { smoke: string; checks: { action: string; result: string }[] };
    // Assess
    expect(report.smoke).toBe('FAIL');
    expect(report.checks.filter((c) => c.result === 'FAIL').map((c) => c.action)).toEqual(['events:PutEvents']);
    expect(eventsMock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]).toMatchObject({ Source: 'peridio.binary-backends', DetailType: 'Smoke Test' });
  });
});

describe('Function: smoke mode without probes', () => {
  it('answers an empty PASS and never runs the function', async () => {
    let ran = 0;
    const handler = handlerFor<object, string>(async () => {
      ran += 1;
      return 'worked';
    })({});
    expect(await handler({ smoke: true }, {} as never)).toEqual({ smoke: 'PASS', checks: [] });
    expect(ran).toBe(0);
    expect(await handler({ smoke: true, orgId: 'x' }, {} as never)).toBe('worked');
  });
});

describe('CLI: binary-backends smoke', () => {
  const lambdaMock = mockClient(LambdaClient);
  afterAll(() => lambdaMock.restore());
  const env = { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' };
  const payload = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)) as never;

  beforeEach(() => lambdaMock.reset());

  it('passes only when every function of the stage passes, naming the functions by the stage', async () => {
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload({ smoke: 'PASS', checks: [{ action: 'dynamodb:GetItem', result: 'PASS' }] }) });
    const out = capture(env);
    expect(await runCli(['smoke', '--stage', 'prod', '--json'], out.io)).toBe(0);
    const result = JSON.parse(out.stdout());
    expect(result.result).toBe('PASS');
    expect(result.functions.map((f: { functionName: string }) => f.functionName)).toContain('binary-backends-prod-sign-url');
    expect(lambdaMock.commandCalls(InvokeCommand).map((c) => new TextDecoder().decode(c.args[0].input.Payload as Uint8Array))).toEqual(
      Array(result.functions.length).fill('{"smoke":true}'),
    );
  });

  it('fails with exit 1 and prints the failing action of each failing function', async () => {
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payload({ smoke: 'PASS', checks: [] }) });
    lambdaMock.on(InvokeCommand, { FunctionName: 'binary-backends-prod-activate' }).resolves({
      StatusCode: 200,
      Payload: payload({ smoke: 'FAIL', checks: [{ action: 'events:PutEvents', result: 'FAIL', error: 'AccessDeniedException', message: 'denied' }] }),
    });
    lambdaMock.on(InvokeCommand, { FunctionName: 'binary-backends-prod-cleanup' }).rejects(named('ResourceNotFoundException', 'Function not found'));
    const out = capture(env);
    expect(await runCli(['smoke', '--stage', 'prod'], out.io)).toBe(1);
    const lines = out.stdout().split('\n');
    expect(lines.find((l) => l.startsWith('binary-backends-prod-activate'))).toMatch(/FAIL .*events:PutEvents: AccessDeniedException \(denied\)/);
    expect(lines.find((l) => l.startsWith('binary-backends-prod-cleanup'))).toMatch(/FAIL .*lambda:InvokeFunction: ResourceNotFoundException/);
    expect(out.stdout()).toContain('Smoke FAIL for stage prod');
  });

  it('refuses a missing or malformed --stage with exit 2', async () => {
    for (const args of [['smoke'], ['smoke', '--stage', 'a b']]) {
      const out = capture(env);
      expect(await runCli(args, out.io)).toBe(2);
      expect(out.stderr()).toContain('--stage');
    }
    expect(lambdaMock.commandCalls(InvokeCommand)).toEqual([]);
  });
});
