/**
 * `binary-backends smoke` against the local stack: every function, the real handler module behind the
 * local Lambda API, answers its smoke mode, and every probe passes without leaving anything behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { runCli } from '../../cli/main';
import type { SmokeResult } from '../../cli/commands/smoke';
import { FUNCTIONS } from '../../local/lambda';
import { SMOKE_KEY } from '#shared/smoke-probes';
import { capture } from './helpers/capture';
import { startE2eStack, type E2eStack } from './helpers/stack';

let e: E2eStack;
beforeAll(async () => {
  e = await startE2eStack();
});
afterAll(async () => {
  await e?.stop();
});

describe('E2E: smoke', () => {
  it('passes every function of the local stage, and writes nothing', async () => {
    // Act
    const c = capture(e.env);
    const code = await runCli(['smoke', '--stage', e.env.BINARY_BACKENDS_STAGE!, '--json'], c.io);
    // Assess
    const result = JSON.parse(c.stdout()) as SmokeResult;
    const failing = result.functions.filter((f) => f.result !== 'PASS').map((f) => `${f.functionName}: ${JSON.stringify(f.failing)}`);
    expect(failing).toEqual([]);
    expect(code).toBe(0);
    expect(result.functions.map((f) => f.function).sort()).toEqual(FUNCTIONS.map((f) => f.key).sort());
    const actions = new Set(result.functions.flatMap((f) => f.checks.map((x) => x.action)));
    for (const a of ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem', 'events:PutEvents', 'states:DescribeExecution', 'iam:GetRole', 'sts:AssumeRole']) {
      expect(actions, a).toContain(a);
    }
    const table = e.env.BINARY_BACKENDS_TABLE!;
    expect((await e.platform.dynamo.send(new GetCommand({ TableName: table, Key: SMOKE_KEY }))).Item).toBeUndefined();
    expect((await e.platform.dynamo.send(new ScanCommand({ TableName: table }))).Items ?? []).toEqual([]);
    const executions = await e.platform.sfn.send(new ListExecutionsCommand({ stateMachineArn: e.env.BINARY_BACKENDS_STATE_MACHINE_ARN }));
    expect(executions.executions ?? []).toEqual([]);
  });

  it('prints one line per function and the verdict', async () => {
    const c = capture(e.env);
    expect(await runCli(['smoke', '--stage', e.env.BINARY_BACKENDS_STAGE!], c.io)).toBe(0);
    expect(c.stdout()).toContain(`binary-backends-${e.env.BINARY_BACKENDS_STAGE}-sign-url`);
    expect(c.stdout()).toContain(`Smoke PASS for stage local: ${FUNCTIONS.length}/${FUNCTIONS.length} functions pass.`);
  });
});
