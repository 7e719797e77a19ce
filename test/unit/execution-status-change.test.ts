import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import {
  executionStatusChange,
  parseExecutionName,
  type ExecutionStatusChangeDeps,
} from '../../functions/onboarding/execution-status-change/execution-status-change';
import { createHandler } from '../../functions/onboarding/execution-status-change/handler';
import { getOrgRecord } from '#shared/records/read-sdk';
import { ensureBackend, recordFailure, writePendingConfig } from '#shared/records/pending-writes';
import { remediationFor, TransientError } from '#shared/errors';
import { executionName } from '#shared/identifiers';
import { useRecordsTableAndEventBus } from './helpers/records-table';
import { ORG_ID, ROLE_NAME, STATE_MACHINE_ARN, T0, config, executionArnFor, nameFor } from './helpers/fixtures';

function statusChange(status: string, version = 1, withInput = true, extra: Record<string, unknown> = {}) {
  const name = nameFor(version);
  return {
    version: '0',
    id: 'e1',
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    time: T0.toISOString(),
    resources: [executionArnFor(name)],
    detail: {
      executionArn: executionArnFor(name),
      stateMachineArn: STATE_MACHINE_ARN,
      name,
      status,
      startDate: T0.getTime(),
      stopDate: T0.getTime() + 1000,
      input: withInput ? JSON.stringify({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: version }) : null,
      ...extra,
    },
  };
}

describe('Function: parseExecutionName', () => {
  it('reverses the execution naming rule, including encoded role names', () => {
    expect(parseExecutionName(executionName(ORG_ID, 'a.b_c@d', 12))).toEqual({ orgId: ORG_ID, roleName: 'a.b_c@d', configVersion: 12 });
    expect(parseExecutionName(executionName(ORG_ID, 'my-role', 3))).toEqual({ orgId: ORG_ID, roleName: 'my-role', configVersion: 3 });
  });

  it('refuses names that are not ours', () => {
    expect(parseExecutionName('some-other-execution')).toBeUndefined();
  });
});

describe('Function: executionStatusChange', () => {
  const { table, eventsMock } = useRecordsTableAndEventBus();
  const now = new Date(T0.getTime() + 5000);
  const deps = (): ExecutionStatusChangeDeps => ({ store: table, events: new EventBridgeClient({ region: 'us-east-1' }), eventBusName: 'bus', clock: () => now });
  const pending = async () => (await getOrgRecord(table.ddb, table.tableName, ORG_ID))!.backends[ROLE_NAME]!.pending!;

  beforeEach(async () => {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ status: 'AWAITING_TRUST' }), now: T0 });
  });

  it('marks the config of an ABORTED execution ABANDONED', async () => {
    const result = await executionStatusChange(statusChange('ABORTED'), deps());
    expect(result.marked).toBe(true);
    expect(await pending()).toMatchObject({ status: 'ABANDONED', error: { name: 'ExecutionAborted' } });
  });

  it('marks the config of a TIMED_OUT execution FAILED and emits Onboarding Failed', async () => {
    await executionStatusChange(statusChange('TIMED_OUT'), deps());
    expect(await pending()).toMatchObject({ status: 'FAILED', error: { name: 'ExecutionTimedOut' } });
    const detail = JSON.parse(eventsMock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!.Detail!);
    expect(detail).toMatchObject({ orgId: ORG_ID, errorName: 'ExecutionTimedOut' });
  });

  it('marks the config of an execution that FAILED outside any Catch FAILED, naming the error but not echoing the cause', async () => {
    const result = await executionStatusChange(
      statusChange('FAILED', 1, true, { error: 'States.Runtime', cause: 'An error occurred while executing the state \x1b[2J' }),
      deps(),
    );
    expect(result.marked).toBe(true);
    const p = await pending();
    expect(p).toMatchObject({ status: 'FAILED', error: { name: 'ExecutionFailed' } });
    expect(p.error?.message).toContain('States.Runtime');
    expect(p.error?.message).not.toContain('\x1b');
    const detail = JSON.parse(eventsMock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!.Detail!);
    expect(detail).toMatchObject({ orgId: ORG_ID, errorName: 'ExecutionFailed' });
  });

  it('gives a FAILED execution the remediation of its error when it is one of ours', async () => {
    await executionStatusChange(statusChange('FAILED', 1, true, { error: 'TrustPolicyTimeoutError' }), deps());
    expect((await pending()).error?.remediation).toBe(remediationFor('TrustPolicyTimeoutError'));
  });

  it('leaves a FAILED execution\'s record alone when RecordFailure already wrote it, and sends no second Onboarding Failed', async () => {
    const ref = { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: executionArnFor(nameFor(1)) };
    await recordFailure(table, ref, { name: 'BucketNotFoundError', message: 'm', remediation: 'r', at: T0.toISOString() }, T0);
    await expect(executionStatusChange(statusChange('FAILED', 1, true, { error: 'BucketNotFoundError' }), deps())).resolves.toMatchObject({ marked: false });
    expect((await pending()).error?.name).toBe('BucketNotFoundError');
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('finds the backend from the execution name when the event carries no input', async () => {
    await expect(executionStatusChange(statusChange('ABORTED', 1, false), deps())).resolves.toMatchObject({ marked: true });
  });

  it('leaves a config another execution now holds alone', async () => {
    const result = await executionStatusChange(statusChange('ABORTED', 7), deps());
    expect(result.marked).toBe(false);
    expect((await pending()).status).toBe('AWAITING_TRUST');
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('keeps a failure RecordFailure already wrote', async () => {
    const ref = { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: executionArnFor(nameFor(1)) };
    await recordFailure(table, ref, { name: 'TrustPolicyTimeoutError', message: 'late', remediation: 'r', at: T0.toISOString() }, T0);
    await executionStatusChange(statusChange('TIMED_OUT'), deps());
    expect((await pending()).error?.name).toBe('TrustPolicyTimeoutError');
  });

  it('ignores other statuses and unrelated events', async () => {
    await expect(executionStatusChange(statusChange('SUCCEEDED'), deps())).resolves.toMatchObject({ marked: false });
    await expect(executionStatusChange({ detail: { status: 'ABORTED', executionArn: 'arn:aws:states:us-east-1:1:execution:x:other', name: 'other' } }, deps())).resolves.toMatchObject({ marked: false });
    await expect(executionStatusChange(undefined, deps())).resolves.toMatchObject({ marked: false });
    expect((await pending()).status).toBe('AWAITING_TRUST');
  });

  it('turns DynamoDB throttling into TransientError', async () => {
    const store = { ddb: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), tableName: 't' };
    const ddbMock = mockClient(store.ddb);
    ddbMock.on(UpdateCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow', $metadata: {} }));
    await expect(executionStatusChange(statusChange('ABORTED'), { ...deps(), store })).rejects.toThrow(TransientError);
    ddbMock.restore();
  });

  it('is reachable through the middy handler', async () => {
    const handler = createHandler(deps());
    await expect(handler(statusChange('ABORTED'), {} as never)).resolves.toMatchObject({ marked: true });
  });
});
