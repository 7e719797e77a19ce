import { beforeEach, describe, expect, it } from 'vitest';
import { EventBridgeClient, EventBridgeServiceException, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { describeCaughtError, recordFailure, type RecordFailureDeps } from '../../functions/onboarding/record-failure/record-failure';
import { createHandler } from '../../functions/onboarding/record-failure/handler';
import { getOrgRecord } from '#shared/records/read-sdk';
import { ensureBackend, writePendingConfig } from '#shared/records/pending-writes';
import { activatePending } from '#shared/records/lifecycle-writes';
import { REMEDIATIONS, TransientError } from '#shared/errors';
import { acquireClaims, bucketClaimPk, roleClaimPk } from '#shared/claims';
import { SFNClient } from '@aws-sdk/client-sfn';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { useRecordsTableAndEventBus } from './helpers/records-table';
import { CUSTOMER_ROLE_ARN, ORG_ID, ROLE_NAME, T0, config, context, nameFor } from './helpers/fixtures';
import { runtimePrivateKeyPem } from '../fixtures/private-key';

const awsCause = (errorType: string, errorMessage: string) => JSON.stringify({ errorType, errorMessage, trace: ['at x (file.js:1:1)'] });

describe('Function: describeCaughtError', () => {
  it('reads the AWS form of Cause: JSON with errorType, errorMessage and trace', () => {
    expect(describeCaughtError({ Error: 'TrustPolicyTimeoutError', Cause: awsCause('TrustPolicyTimeoutError', 'too late') })).toEqual({
      name: 'TrustPolicyTimeoutError',
      message: 'too late',
    });
  });

  it('reads a plain-text Cause (AWS gives one for SendTaskFailure, Lambda service errors and States.*)', () => {
    expect(describeCaughtError({ Error: 'BucketWrongRegionError', Cause: 'bucket is in eu-central-1' })).toEqual({
      name: 'BucketWrongRegionError',
      message: 'bucket is in eu-central-1',
    });
  });

  it('copes with a missing or garbage error', () => {
    expect(describeCaughtError(undefined)).toEqual({ name: 'Unknown', message: 'No error message was recorded.' });
    expect(describeCaughtError({ Error: 42, Cause: { nested: true } }).name).toBe('Unknown');
  });

  it('never passes key material on', () => {
    const pem = runtimePrivateKeyPem();
    expect(describeCaughtError({ Error: 'ValidationError', Cause: pem }).message).not.toContain('BEGIN');
  });
});

describe('Function: recordFailure', () => {
  const { table, eventsMock } = useRecordsTableAndEventBus();
  const now = new Date(T0.getTime() + 120_000);
  const deps = (): RecordFailureDeps => ({ store: table, events: new EventBridgeClient({ region: 'us-east-1' }), eventBusName: 'bus', clock: () => now });
  const read = async () => (await getOrgRecord(table.ddb, table.tableName, ORG_ID))!;
  const publishedDetail = () => JSON.parse(eventsMock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!.Detail!);

  beforeEach(async () => {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
  });

  it('releases the failed execution\'s claims on the customer role and the bucket', async () => {
    // Prepare
    const ctx = context();
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ status: 'AWAITING_TRUST' }), now: T0 });
    await acquireClaims(table, new SFNClient({ region: 'us-east-1' }), { ...ctx, roleArn: ctx.upload.roleArn, bucket: ctx.upload.bucket }, T0);
    // Act
    await recordFailure({ ...ctx, error: { Error: 'TrustPolicyTimeoutError', Cause: 'too late' } }, deps());
    // Assess
    for (const pk of [roleClaimPk(ctx.upload.roleArn), bucketClaimPk(ctx.upload.bucket)]) {
      const item = (await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk, sk: 'CLAIM' } }))).Item;
      expect(item?.claims).toEqual({});
    }
  });

  it('recognises a config this execution already activated: never marks it FAILED, sends no Onboarding Failed', async () => {
    // Prepare: Activate's write succeeded, then the step failed (say a Lambda timeout)
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ status: 'VERIFIED' }), now: T0 });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: context().executionArn }, T0);
    // Act
    const result = await recordFailure({ ...context(), error: { Error: 'States.Timeout', Cause: 'Task timed out' } }, deps());
    // Assess
    expect(result).toMatchObject({ recorded: false, alreadyActive: true, activatedAt: T0.toISOString(), errorName: 'States.Timeout' });
    const record = await read();
    expect(record.active).toBe(ROLE_NAME);
    expect(record.backends[ROLE_NAME]?.serving?.status).toBe('ACTIVE');
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('still records the failure of a newer onboarding while an older config of this backend serves', async () => {
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ status: 'VERIFIED' }), now: T0 });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: context().executionArn }, T0);
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2 }), now: T0 });
    const result = await recordFailure({ ...context({ configVersion: 2 }), error: { Error: 'BucketNotFoundError', Cause: 'no bucket' } }, deps());
    expect(result).toMatchObject({ recorded: true, alreadyActive: false });
    expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('writes FAILED with name, message and remediation on this execution\'s pending config', async () => {
    // Prepare
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config(), now: T0 });
    // Act
    const result = await recordFailure({ ...context(), error: { Error: 'ExternalIdNotEnforcedError', Cause: awsCause('ExternalIdNotEnforcedError', 'no condition') } }, deps());
    // Assess
    expect(result).toEqual({
      recorded: true,
      alreadyActive: false,
      errorName: 'ExternalIdNotEnforcedError',
      message: 'no condition',
      remediation: REMEDIATIONS.ExternalIdNotEnforcedError,
    });
    expect((await read()).backends[ROLE_NAME]?.pending).toMatchObject({
      status: 'FAILED',
      error: { name: 'ExternalIdNotEnforcedError', message: 'no condition', remediation: REMEDIATIONS.ExternalIdNotEnforcedError, at: now.toISOString() },
    });
  });

  it('emits Onboarding Failed with the error name and remediation', async () => {
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config(), now: T0 });
    await recordFailure({ ...context(), error: { Error: 'BucketNotFoundError', Cause: 'no such bucket' } }, deps());
    expect(publishedDetail()).toMatchObject({ orgId: ORG_ID, roleName: ROLE_NAME, errorName: 'BucketNotFoundError', remediation: REMEDIATIONS.BucketNotFoundError, recorded: true });
  });

  it('leaves the serving config serving when a re-onboarding fails', async () => {
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ status: 'VERIFIED' }), now: T0 });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: context().executionArn }, T0);
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2 }), now: T0 });
    await recordFailure({ ...context({ configVersion: 2 }), error: { Error: 'DownloadVerificationError', Cause: 'bytes differ' } }, deps());
    const record = await read();
    expect(record.active).toBe(ROLE_NAME);
    expect(record.backends[ROLE_NAME]?.serving).toMatchObject({ status: 'ACTIVE', configVersion: 1 });
    expect(record.backends[ROLE_NAME]?.pending?.status).toBe('FAILED');
  });

  it('writes nothing when another execution holds the pending config (ConditionalCheckFailed)', async () => {
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2 }), now: T0 });
    const result = await recordFailure({ ...context(), error: { Error: 'StaleExecutionError', Cause: 'x' } }, deps());
    expect(result.recorded).toBe(false);
    expect((await read()).backends[ROLE_NAME]?.pending?.status).toBe('PENDING');
  });

  it('tolerates the raw execution input of a failed RecordConfig, without executionArn', async () => {
    const rawInput = { orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 3, upload: { bucket: 'Bad_Bucket', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN } };
    const result = await recordFailure({ ...rawInput, error: { Error: 'ValidationError', Cause: 'upload.bucket: bad' } }, deps());
    expect(result).toMatchObject({ recorded: false, errorName: 'ValidationError', remediation: REMEDIATIONS.ValidationError });
    expect(publishedDetail()).toMatchObject({ orgId: ORG_ID, executionName: nameFor(3), executionArn: null });
  });

  it('tolerates garbage input', async () => {
    const result = await recordFailure({ orgId: 'not-a-uuid', roleName: 'way-too-long-role-name', error: 'nope' }, deps());
    expect(result).toMatchObject({ recorded: false, errorName: 'Unknown', remediation: REMEDIATIONS.Unknown });
    await expect(recordFailure('garbage', deps())).resolves.toMatchObject({ recorded: false });
    await expect(recordFailure(null, deps())).resolves.toMatchObject({ recorded: false });
  });

  it('accepts the context passed beside the state', async () => {
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config(), now: T0 });
    const { executionArn, executionName, ...state } = context();
    const result = await recordFailure({ state: { ...state, error: { Error: 'TransientError', Cause: 'x' } }, executionArn, executionName }, deps());
    expect(result.recorded).toBe(true);
  });

  it('throws TransientError when EventBridge throttles, so the state machine retries', async () => {
    eventsMock.on(PutEventsCommand).rejects(new EventBridgeServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'slow', $metadata: {} }));
    await expect(recordFailure({ ...context(), error: { Error: 'X', Cause: 'y' } }, deps())).rejects.toThrow(TransientError);
  });

  it('is reachable through the middy handler', async () => {
    const handler = createHandler(deps());
    await expect(handler({}, {} as never)).resolves.toMatchObject({ recorded: false, errorName: 'Unknown' });
  });
});
