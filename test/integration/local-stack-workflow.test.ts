/**
 * The real ASL (statemachine/onboarding.asl.json) with the real handlers on the local stack, driven
 * only through SDK clients configured from the env file: an *Onboarding Requested* event reaches the
 * starter, the workflow waits for the customer's trust policy (the gap is real: STS evaluates the trust),
 * activates once the customer applies it, and a stopped execution reaches the status-change rule.
 * Waits are event-driven (event log and invocation listeners), never timers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateRoleCommand, PutRolePolicyCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, ListExecutionsCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { LocalStack } from '../../local/stack';
import { nextEvent, startTestStack, type EnvClients } from './local-stack-helpers';

let stack: LocalStack;
let c: EnvClients;

beforeAll(async () => {
  ({ stack, clients: c } = await startTestStack({ waitForTrustMs: 30 }));
});
afterAll(async () => {
  await stack?.stop();
});

/** Resolves once `functionName` has been invoked `count` times in total. */
function invocations(functionName: string, count: number): Promise<void> {
  const done = () => stack.lambda.invocations.filter((r) => r.functionName === functionName).length >= count;
  if (done()) return Promise.resolve();
  return new Promise((resolve) => {
    const off = stack.lambda.subscribe(() => {
      if (done()) {
        off();
        resolve();
      }
    });
  });
}

async function customerBackend(bucket: string, roleName: string, region: string) {
  await c.s3(region, c.customer).send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: region as 'eu-west-1' } }));
  await c.iam(c.customer).send(
    new CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${c.env.CUSTOMER_ACCOUNT_ID}:root` }, Action: 'sts:AssumeRole' }] }),
    }),
  );
  await c.iam(c.customer).send(
    new PutRolePolicyCommand({
      RoleName: roleName,
      PolicyName: 'PeridioBinaries',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:ListBucket'], Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }],
      }),
    }),
  );
  return `arn:aws:iam::${c.env.CUSTOMER_ACCOUNT_ID}:role/${roleName}`;
}

async function requestOnboarding(orgId: string, roleName: string, bucket: string, region: string, roleArn: string): Promise<string> {
  const put = await c.events().send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: c.env.BINARY_BACKENDS_EVENT_BUS,
          Source: 'peridio.binary-backends',
          DetailType: 'Onboarding Requested',
          Detail: JSON.stringify({ orgId, roleName, upload: { bucket, region, roleArn }, download: { type: 's3' } }),
        },
      ],
    }),
  );
  expect(put.FailedEntryCount).toBe(0);
  await stack.eventBridge.drain();
  const delivered = stack.events.find((e) => e.id === put.Entries![0]!.EventId)!;
  expect(delivered.deliveries).toEqual([expect.objectContaining({ target: c.env.BINARY_BACKENDS_STARTER_FUNCTION, ok: true })]);
  const list = await c.sfn().send(new ListExecutionsCommand({ stateMachineArn: c.env.BINARY_BACKENDS_STATE_MACHINE_ARN }));
  const exec = list.executions!.find((e) => e.name!.startsWith(`${orgId}-${roleName}-`));
  expect(exec, 'the starter started an execution').toBeTruthy();
  return exec!.executionArn!;
}

describe('the real onboarding workflow on the local stack', () => {
  it('waits for the trust policy, then activates', async () => {
    const orgId = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
    const roleArn = await customerBackend('workflow-acme', 'PeridioBinaries', 'eu-west-1');
    const executionArn = await requestOnboarding(orgId, 'prod', 'workflow-acme', 'eu-west-1', roleArn);

    const ready = await nextEvent(stack, (e) => e.detailType === 'Trust Policy Ready' && (e.detail as { orgId: string }).orgId === orgId);
    // The customer has not applied anything yet: CheckTrust is refused, and the workflow keeps polling.
    const checkTrust = stack.names.function('checkTrust');
    await invocations(checkTrust, 2);
    expect((await c.sfn().send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');

    const trustPolicy = (ready.detail as { trustPolicy: unknown }).trustPolicy;
    await c.iam(c.customer).send(new UpdateAssumeRolePolicyCommand({ RoleName: 'PeridioBinaries', PolicyDocument: JSON.stringify(trustPolicy) }));
    const done = await stack.waitForExecution(executionArn);
    expect(done.status, done.cause).toBe('SUCCEEDED');

    const history = await c.sfn().send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    const states = history.events!.filter((e) => e.type === 'TaskStateEntered').map((e) => e.stateEnteredEventDetails!.name);
    expect(states[0]).toBe('RecordConfig');
    expect(states.filter((s) => s === 'CheckTrust').length).toBeGreaterThanOrEqual(3);
    expect(states.slice(-4)).toEqual(['VerifyUpload', 'VerifyDownload', 'Cleanup', 'Activate']);
    expect(history.events!.some((e) => e.type === 'WaitStateEntered')).toBe(true);
    await nextEvent(stack, (e) => e.detailType === 'Backend Activated' && (e.detail as { orgId: string }).orgId === orgId);

    const item = await c.dynamo().send(new GetItemCommand({ TableName: c.env.BINARY_BACKENDS_TABLE, Key: { pk: { S: `ORG#${orgId}` }, sk: { S: 'BACKENDS' } } }));
    expect(item.Item?.active?.S).toBe('prod');
  });

  it('routes a stopped execution to the status-change rule, which marks the config ABANDONED', async () => {
    const orgId = '8d0e6b1f-2c4a-4e9b-a7f3-5b9c1d2e3f40';
    const roleArn = await customerBackend('workflow-globex', 'PeridioNever', 'us-west-2');
    const executionArn = await requestOnboarding(orgId, 'never', 'workflow-globex', 'us-west-2', roleArn);
    await nextEvent(stack, (e) => e.detailType === 'Trust Policy Ready' && (e.detail as { orgId: string }).orgId === orgId);
    await c.sfn().send(new StopExecutionCommand({ executionArn, error: 'Support', cause: 'customer cancelled' }));
    const change = await nextEvent(
      stack,
      (e) => e.detailType === 'Step Functions Execution Status Change' && (e.detail as { executionArn: string; status: string }).executionArn === executionArn && (e.detail as { status: string }).status === 'ABORTED',
    );
    await stack.eventBridge.drain();
    expect(change.deliveries).toEqual([expect.objectContaining({ target: stack.names.function('executionStatusChange'), ok: true })]);
    const item = await c.dynamo().send(new GetItemCommand({ TableName: c.env.BINARY_BACKENDS_TABLE, Key: { pk: { S: `ORG#${orgId}` }, sk: { S: 'BACKENDS' } } }));
    expect(item.Item?.backends?.M?.never?.M?.pending?.M?.status?.S).toBe('ABANDONED');
  });
});
