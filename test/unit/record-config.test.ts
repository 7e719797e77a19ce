import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, SFNServiceException } from '@aws-sdk/client-sfn';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { recordConfig } from '../../functions/onboarding/record-config/record-config';
import { createHandler } from '../../functions/onboarding/record-config/handler';
import { getOrgRecord } from '#shared/records/read-sdk';
import { allocateConfigVersion, ensureBackend, writePendingConfig } from '#shared/records/pending-writes';
import { deactivateOrg, activatePending } from '#shared/records/lifecycle-writes';
import { OnboardingFencedError } from '#shared/errors';
import { ClaimedByAnotherOrgError, OnboardingInProgressError, RoleNameConflictError, TransientError, ValidationError } from '#shared/errors';
import { acquireClaims, bucketClaimPk } from '#shared/claims';
import { startRecordsTable, type RecordsTable } from './helpers/records-table';
import { CUSTOMER_ROLE_ARN, ORG_ID, PLATFORM_ACCOUNT, PLATFORM_ROLE_ARN, ROLE_NAME, T0, config, executionArnFor, nameFor } from './helpers/fixtures';
import { runtimePrivateKeyPem } from '../fixtures/private-key';

function executionInput(overrides: Record<string, unknown> = {}) {
  return {
    orgId: ORG_ID,
    roleName: ROLE_NAME,
    configVersion: 1,
    requestedBy: 'arn:aws:iam::111111111111:user/support',
    upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN },
    download: { type: 's3' },
    ...overrides,
  };
}

function event(version = 1, overrides: Record<string, unknown> = {}) {
  return {
    input: executionInput({ configVersion: version, ...overrides }),
    executionArn: executionArnFor(nameFor(version)),
    executionName: nameFor(version),
  };
}

describe('Function: recordConfig', () => {
  const sfnMock = mockClient(SFNClient);
  let table: RecordsTable;
  let now = T0;
  const sfnClient = () => new SFNClient({ region: 'us-east-1' });
  const deps = () => ({ store: table, sfn: sfnClient(), clock: () => now });

  beforeAll(async () => {
    table = await startRecordsTable();
  });
  afterAll(async () => {
    sfnMock.restore();
    await table.stop();
  });
  beforeEach(async () => {
    sfnMock.reset();
    now = T0;
    await table.clear();
  });

  const read = async () => (await getOrgRecord(table.ddb, table.tableName, ORG_ID))!;

  it('refuses a bucket + prefix another org is onboarding, writing no pending config', async () => {
    // Prepare: another org's running execution holds s3://acme-firmware/ (the whole bucket)
    const otherOrg = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
    const otherArn = executionArnFor(`${otherOrg}-prod-1`);
    await acquireClaims(table, sfnClient(), {
      orgId: otherOrg,
      roleName: 'prod',
      configVersion: 1,
      executionArn: otherArn,
      executionName: `${otherOrg}-prod-1`,
      roleArn: 'arn:aws:iam::333333333333:role/Theirs',
      bucket: 'acme-firmware',
    }, T0);
    sfnMock.on(DescribeExecutionCommand, { executionArn: otherArn }).resolves({ status: 'RUNNING', executionArn: otherArn });
    // Act / Assess
    await expect(recordConfig(event(1, { upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN, prefix: 'fw/' } }), deps())).rejects.toThrow(
      ClaimedByAnotherOrgError,
    );
    expect((await read()).backends[ROLE_NAME]?.pending).toBeUndefined();
    const claims = (await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk: bucketClaimPk('acme-firmware'), sk: 'CLAIM' } }))).Item!.claims;
    expect(Object.keys(claims)).toEqual([`${otherOrg}-prod-1`]);
  });

  it('refuses an execution the starter started before the org was deactivated, writing nothing', async () => {
    // Prepare: the starter claimed v1 at T0; support deactivated (an active backend) 1 s later, before RecordConfig ran
    const claimFor = (v: number) => ({
      executionName: nameFor(v),
      executionArn: executionArnFor(nameFor(v)),
      requestHash: 'h',
      requestedBy: 'support',
      configVersion: v,
      at: T0.toISOString(),
    });
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await allocateConfigVersion(table, { orgId: ORG_ID, roleName: ROLE_NAME, expectedLastConfigVersion: 0, now: T0, claimFor });
    const fence = await deactivateOrg(table, { orgId: ORG_ID, now: new Date(T0.getTime() + 1000) });
    expect(fence.fenced).toEqual([{ roleName: ROLE_NAME, executionName: nameFor(1), executionArn: executionArnFor(nameFor(1)), status: 'STARTING' }]);
    now = new Date(T0.getTime() + 2000);
    // Act / Assess
    await expect(recordConfig(event(1), deps())).rejects.toThrow(OnboardingFencedError);
    expect((await read()).backends[ROLE_NAME]?.pending).toBeUndefined();
  });

  it('claims its role and bucket for this execution and records the fence epoch it started under', async () => {
    await recordConfig(event(1), deps());
    const claims = (await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk: bucketClaimPk('acme-firmware'), sk: 'CLAIM' } }))).Item!.claims;
    expect(claims[nameFor(1)]).toMatchObject({ orgId: ORG_ID, roleName: ROLE_NAME, prefix: '' });
    expect((await read()).backends[ROLE_NAME]?.pending?.fenceEpoch).toBe(0);
  });

  it('writes the pending config as PENDING and returns the context later states use', async () => {
    // Act
    const context = await recordConfig(event(1, { trustDeadlineSeconds: 3600 }), deps());
    // Assess
    expect(context).toEqual({
      orgId: ORG_ID,
      roleName: ROLE_NAME,
      configVersion: 1,
      executionArn: executionArnFor(nameFor(1)),
      executionName: nameFor(1),
      requestedBy: 'arn:aws:iam::111111111111:user/support',
      startedAt: T0.toISOString(),
      trustDeadlineAt: new Date(T0.getTime() + 3600_000).toISOString(),
      upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN, accountId: '222222222222' },
      download: { type: 's3' },
      platformRoleArn: PLATFORM_ROLE_ARN,
      // The default stage policy, when-active, on an org still on default storage: no approval wait.
      approval: { required: false, policy: 'when-active', timeoutSeconds: 259200, activeAtStart: null },
    });
    const record = await read();
    expect(record.backends[ROLE_NAME]?.pending).toMatchObject({ status: 'PENDING', configVersion: 1, startedAt: T0.toISOString() });
    expect(record.active).toBeUndefined();
    expect(record.backends[ROLE_NAME]?.lastConfigVersion).toBe(1);
  });

  it('defaults the trust deadline to 7 days from the injected clock', async () => {
    const context = await recordConfig(event(1), deps());
    expect(Date.parse(context.trustDeadlineAt) - T0.getTime()).toBe(7 * 86_400_000);
  });

  it('writes an idempotent audit event', async () => {
    await recordConfig(event(1), deps());
    now = new Date(T0.getTime() + 1000);
    const again = await recordConfig(event(1), deps());
    expect(again.startedAt).toBe(T0.toISOString());
    const { Items } = await table.raw.send(
      new (await import('@aws-sdk/client-dynamodb')).ScanCommand({ TableName: table.tableName }),
    );
    expect(Items?.filter((i) => i.sk?.S?.startsWith('EVENT#'))).toHaveLength(1);
  });

  it('writes the audit event on a retry when the first attempt failed after recording the config', async () => {
    // Prepare: the pending config is ours already, but no audit event was written
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config(), now: T0 });
    // Act
    await recordConfig(event(1), deps());
    // Assess
    const out = await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk: `ORG#${ORG_ID}`, sk: `EVENT#${nameFor(1)}#RecordConfig#1` } }));
    expect(out.Item?.detail).toMatchObject({ configVersion: 1, status: 'PENDING' });
  });

  it('refuses bad input before writing anything, naming the field', async () => {
    // Act
    const result = recordConfig(event(1, { upload: { bucket: '192.168.5.4', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN } }), deps());
    // Assess
    await expect(result).rejects.toThrow(ValidationError);
    await expect(result).rejects.toThrow(/upload\.bucket/);
    expect(await getOrgRecord(table.ddb, table.tableName, ORG_ID)).toBeUndefined();
  });

  it('refuses input that can never be right for this stack (own account, wrong type) before writing anything', async () => {
    const own = recordConfig(event(1, { upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: `arn:aws:iam::${PLATFORM_ACCOUNT}:role/X` } }), deps());
    await expect(own).rejects.toThrow(/upload\.roleArn: must be a role in the customer's account/);
    await expect(recordConfig(event(1, { roleName: 7 }), deps())).rejects.toThrow(/roleName: expected string, got number/);
    expect(await getOrgRecord(table.ddb, table.tableName, ORG_ID)).toBeUndefined();
  });

  it('refuses key material in the input', async () => {
    const pem = runtimePrivateKeyPem();
    await expect(recordConfig(event(1, { requestedBy: pem }), deps())).rejects.toThrow(/key material/);
  });

  it('refuses an event without the execution ARN', async () => {
    await expect(recordConfig({ input: executionInput() }, deps())).rejects.toThrow(ValidationError);
  });

  it('refuses a role name that differs only in case from an existing backend', async () => {
    await ensureBackend(table, { orgId: ORG_ID, roleName: 'PROD', now: T0 });
    await expect(recordConfig(event(1), deps())).rejects.toThrow(RoleNameConflictError);
  });

  it('refuses while another RUNNING execution holds the backend, naming it', async () => {
    // Prepare
    await recordConfig(event(1), deps());
    sfnMock.on(DescribeExecutionCommand, { executionArn: executionArnFor(nameFor(1)) }).resolves({ status: 'RUNNING' });
    // Act
    const result = recordConfig(event(2), deps());
    // Assess
    await expect(result).rejects.toThrow(OnboardingInProgressError);
    await expect(result).rejects.toThrow(nameFor(1));
    expect((await read()).backends[ROLE_NAME]?.pending?.configVersion).toBe(1);
  });

  it('takes over from a holder that stopped outside any Catch, marking it ABANDONED', async () => {
    // Prepare
    await recordConfig(event(1), deps());
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'ABORTED' });
    now = new Date(T0.getTime() + 60_000);
    // Act
    const context = await recordConfig(event(2), deps());
    // Assess
    expect(context.configVersion).toBe(2);
    expect(context.startedAt).toBe(now.toISOString());
    const pending = (await read()).backends[ROLE_NAME]?.pending;
    expect(pending).toMatchObject({ configVersion: 2, status: 'PENDING' });
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: executionArnFor(nameFor(1)) });
  });

  it('takes over from a holder Step Functions no longer knows', async () => {
    await recordConfig(event(1), deps());
    sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'gone', $metadata: {} }));
    await expect(recordConfig(event(2), deps())).resolves.toMatchObject({ configVersion: 2 });
  });

  it('replaces a FAILED config without asking Step Functions', async () => {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 1, status: 'FAILED' }), now: T0 });
    await recordConfig(event(2), deps());
    expect(sfnMock).not.toHaveReceivedCommand(DescribeExecutionCommand);
  });

  it('never changes which backend is active during a re-onboarding', async () => {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 1, status: 'VERIFIED' }), now: T0 });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: executionArnFor(nameFor(1)) }, T0);
    await recordConfig(event(2), deps());
    const record = await read();
    expect(record.active).toBe(ROLE_NAME);
    expect(record.backends[ROLE_NAME]?.serving?.configVersion).toBe(1);
    expect(record.backends[ROLE_NAME]?.pending?.configVersion).toBe(2);
  });

  it('plans an approval wait for a re-onboarding of an active org under when-active, and none under never', async () => {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 1, status: 'VERIFIED' }), now: T0 });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: executionArnFor(nameFor(1)) }, T0);

    const context = await recordConfig(event(2), { ...deps(), approval: { policy: 'when-active', timeoutSeconds: 600 } });
    expect(context.approval).toEqual({ required: true, policy: 'when-active', timeoutSeconds: 600, activeAtStart: ROLE_NAME });
    const retried = await recordConfig(event(2), { ...deps(), approval: { policy: 'never', timeoutSeconds: 600 } });
    expect(retried.approval).toMatchObject({ required: false, policy: 'never' });
  });

  it('turns a throttled DescribeExecution into TransientError', async () => {
    await recordConfig(event(1), deps());
    sfnMock.on(DescribeExecutionCommand).rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: {} }));
    await expect(recordConfig(event(2), deps())).rejects.toThrow(TransientError);
  });

  it('is reachable through the middy handler', async () => {
    const handler = createHandler(deps());
    const context = await handler(event(1), {} as never);
    expect(context.configVersion).toBe(1);
  });
});
