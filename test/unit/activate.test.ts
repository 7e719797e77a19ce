import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { IAMClient, IAMServiceException, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { materializeLocations } from '#shared/records/locations';
import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { activate, type ActivateDeps } from '../../functions/onboarding/activate/activate';
import { createHandler } from '../../functions/onboarding/activate/handler';
import { getOrgRecord } from '#shared/records/read-sdk';
import { ensureBackend, recordChecks, writePendingConfig } from '#shared/records/pending-writes';
import { activatePending } from '#shared/records/lifecycle-writes';
import { ActivationConflictError, ClaimedByAnotherOrgError, OnboardingFencedError, TransientError, ValidationError } from '#shared/errors';
import { EventBridgeServiceException } from '@aws-sdk/client-eventbridge';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { markAbandoned } from '#shared/records/pending-writes';
import { deactivateOrg } from '#shared/records/lifecycle-writes';
import { acquireClaims, bucketClaimPk, checkClaims } from '#shared/claims';
import { SFNClient } from '@aws-sdk/client-sfn';
import { useRecordsTableAndEventBus } from './helpers/records-table';
import { CUSTOMER_ROLE_ARN, ORG_ID, ROLE_NAME, T0, config, context } from './helpers/fixtures';

const OLD_ARN = 'arn:aws:iam::222222222222:role/OldPeridioRole';

describe('Function: activate', () => {
  const iamMock = mockClient(IAMClient);
  afterAll(() => iamMock.restore());
  const { table, eventsMock } = useRecordsTableAndEventBus();
  const now = new Date(T0.getTime() + 600_000);

  let metrics: string[];
  let sleeps: number[];
  const deps = (): ActivateDeps => ({
    store: table,
    iam: new IAMClient({ region: 'us-east-1' }),
    events: new EventBridgeClient({ region: 'us-east-1' }),
    eventBusName: 'bus',
    clock: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    emitMetric: (line) => metrics.push(line),
  });
  const throttledEvents = () => new EventBridgeServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: {} });
  const policyArns = (i: number) => {
    const resource = JSON.parse(iamMock.commandCalls(PutRolePolicyCommand)[i]!.args[0].input.PolicyDocument!).Statement[0].Resource;
    return [resource].flat();
  };
  const read = async () => (await getOrgRecord(table.ddb, table.tableName, ORG_ID))!;

  async function pending(version: number, overrides = {}) {
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: version, ...overrides }), now: T0 });
  }

  beforeEach(async () => {
    metrics = [];
    sleeps = [];
    iamMock.reset();
    iamMock.on(PutRolePolicyCommand).resolves({});
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
  });

  it('makes the verified pending config the serving one and routes the org to it', async () => {
    // Prepare
    await pending(1, { status: 'VERIFIED' });
    // Act
    const result = await activate(context(), deps());
    // Assess
    expect(result).toEqual({
      activatedAt: now.toISOString(),
      configVersion: 1,
      previousActive: null,
      alreadyActive: false,
      location: `b.${ROLE_NAME}.1`,
      retired: [],
      platformPolicyNarrowed: true,
      eventEmitted: true,
      auditWritten: true,
    });
    const record = await read();
    expect(record.active).toBe(ROLE_NAME);
    expect(record.backends[ROLE_NAME]?.serving).toMatchObject({ status: 'ACTIVE', configVersion: 1, location: `b.${ROLE_NAME}.1` });
    expect(record.backends[ROLE_NAME]?.pending).toBeUndefined();
  });

  it('emits Backend Activated', async () => {
    await pending(1, { status: 'VERIFIED' });
    await activate(context(), deps());
    const entry = eventsMock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!;
    expect(entry.DetailType).toBe('Backend Activated');
    expect(JSON.parse(entry.Detail!)).toMatchObject({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, via: 's3' });
  });

  // Issue 11: "A re-onboarding of the same backend name with another customer role keeps the older customer
  // role assumable by the platform role until that config is offboarded" (it used to be dropped here).
  it('keeps the old customer role assumable after a re-onboarding, retiring the old config', async () => {
    // Prepare: v1 active with OLD_ARN (activated before location items existed), v2 verified with CUSTOMER_ROLE_ARN
    await pending(1, { status: 'VERIFIED', upload: { ...config().upload, roleArn: OLD_ARN } });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: config({ configVersion: 1 }).executionArn }, T0);
    await pending(2, { status: 'VERIFIED' });
    // Act
    const result = await activate(context({ configVersion: 2 }), deps());
    // Assess
    expect(result.previousActive).toBe(ROLE_NAME);
    expect(result.retired).toEqual([{ location: `b.${ROLE_NAME}.1`, reason: 'replaced' }]);
    const policy = JSON.parse(iamMock.commandCalls(PutRolePolicyCommand)[0]!.args[0].input.PolicyDocument!);
    expect(policy.Statement).toEqual([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: [OLD_ARN, CUSTOMER_ROLE_ARN].sort() }]);
  });

  it('drops a customer role from the platform role policy once its config is offboarded', async () => {
    // Prepare: v1 (OLD_ARN) replaced by v2, then v1 offboarded (the offboard function's write, as it does it)
    await pending(1, { status: 'VERIFIED', upload: { ...config().upload, roleArn: OLD_ARN } });
    await activate(context(), deps());
    await pending(2, { status: 'VERIFIED' });
    await activate(context({ configVersion: 2 }), deps());
    await table.ddb.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: `ORG#${ORG_ID}`, sk: `LOCATION#b.${ROLE_NAME}.1` },
        UpdateExpression: 'SET #s = :o',
        ConditionExpression: '#s = :r',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':o': 'offboarded', ':r': 'retired' },
      }),
    );
    iamMock.resetHistory();
    // Act: a retried Activate of v2 rewrites the policy from the records
    await activate(context({ configVersion: 2 }), deps());
    // Assess
    expect(policyArns(0)).toEqual([CUSTOMER_ROLE_ARN]);
  });

  it('still reports success when narrowing the platform policy fails', async () => {
    await pending(1, { status: 'VERIFIED' });
    iamMock.on(PutRolePolicyCommand).rejects(new IAMServiceException({ name: 'Throttling', $fault: 'client', message: 'slow', $metadata: {} }));
    const result = await activate(context(), deps());
    expect(result.platformPolicyNarrowed).toBe(false);
    expect((await read()).active).toBe(ROLE_NAME);
  });

  it('succeeds again when the step is retried after activating', async () => {
    await pending(1, { status: 'VERIFIED' });
    await activate(context(), deps());
    const again = await activate(context(), deps());
    expect(again.alreadyActive).toBe(true);
  });

  it('refuses with ActivationConflictError when the config is not verified', async () => {
    await pending(1, { status: 'VERIFYING' });
    await expect(activate(context(), deps())).rejects.toThrow(/VERIFYING, not VERIFIED/);
    expect((await read()).active).toBeUndefined();
  });

  it('refuses when a verification check failed', async () => {
    await pending(1, { status: 'VERIFIED' });
    await recordChecks(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: context().executionArn }, [{ name: 'download', result: 'FAIL', message: 'bytes differ', at: T0.toISOString() }], T0);
    await expect(activate(context(), deps())).rejects.toThrow(ActivationConflictError);
  });

  it('refuses a stale execution (ConditionalCheckFailed), leaving the serving config serving', async () => {
    await pending(1, { status: 'VERIFIED' });
    await activate(context(), deps());
    await pending(2, { status: 'VERIFIED' });
    await expect(activate(context({ configVersion: 3 }), deps())).rejects.toThrow(/belongs to/);
    expect((await read()).backends[ROLE_NAME]?.serving?.configVersion).toBe(1);
    expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  });

  it('refuses with OnboardingFencedError after a deactivation during the onboarding, leaving the org on default storage', async () => {
    // Prepare: recorded under epoch 0, then the org was deactivated
    await pending(1, { status: 'VERIFIED', fenceEpoch: 0 });
    await deactivateOrg(table, { orgId: ORG_ID, now: T0 });
    // Act / Assess
    await expect(activate(context(), deps())).rejects.toThrow(OnboardingFencedError);
    const record = await read();
    expect(record.active).toBeUndefined();
    expect(record.backends[ROLE_NAME]?.serving).toBeUndefined();
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('still refuses a fenced re-onboarding, keeping the serving config as it is', async () => {
    await pending(1, { status: 'VERIFIED' });
    await activate(context(), deps());
    await pending(2, { status: 'VERIFIED', fenceEpoch: 0 });
    await deactivateOrg(table, { orgId: ORG_ID, now: T0 });
    await expect(activate(context({ configVersion: 2 }), deps())).rejects.toThrow(/deactivated while it ran/);
    const record = await read();
    expect(record.active).toBeUndefined();
    expect(record.backends[ROLE_NAME]?.serving?.configVersion).toBe(1);
  });

  it('reports success when Backend Activated cannot be emitted: retries, then logs and counts it', async () => {
    // Prepare
    await pending(1, { status: 'VERIFIED' });
    eventsMock.on(PutEventsCommand).rejects(throttledEvents());
    // Act
    const result = await activate(context(), deps());
    // Assess
    expect(result).toMatchObject({ alreadyActive: false, eventEmitted: false, auditWritten: true });
    expect(eventsMock).toHaveReceivedCommandTimes(PutEventsCommand, 3);
    expect(sleeps).toEqual([100, 200]);
    const emf = JSON.parse(metrics[0]!);
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'BinaryBackends', Metrics: [{ Name: 'ActivationSideEffectFailures', Unit: 'Count' }] });
    expect(emf).toMatchObject({ SideEffect: 'event', ActivationSideEffectFailures: 1 });
    // Exactly the SideEffect dimension (no `service` default dimension from Powertools).
    expect(emf._aws.CloudWatchMetrics[0].Dimensions).toEqual([['SideEffect']]);
    expect((await read()).active).toBe(ROLE_NAME);
  });

  it('emits once a retry of the event succeeds, without a metric', async () => {
    await pending(1, { status: 'VERIFIED' });
    eventsMock.on(PutEventsCommand).rejectsOnce(throttledEvents()).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    const result = await activate(context(), deps());
    expect(result.eventEmitted).toBe(true);
    expect(metrics).toEqual([]);
  });

  it('reports success when the audit item cannot be written', async () => {
    // Prepare: the audit PutItem is throttled, everything else (the location item's PutItem too) goes to dynalite
    await pending(1, { status: 'VERIFIED' });
    const ddb = {
      send: (command: unknown) =>
        command instanceof PutCommand && String(command.input.Item?.sk).startsWith('EVENT#')
          ? Promise.reject(new ProvisionedThroughputExceededException({ message: 'slow', $metadata: {} }))
          : table.ddb.send(command as never),
    } as unknown as DynamoDBDocumentClient;
    // Act
    const result = await activate(context(), { ...deps(), store: { ddb, tableName: table.tableName } });
    // Assess
    expect(result).toMatchObject({ eventEmitted: true, auditWritten: false });
    expect(JSON.parse(metrics[0]!)).toMatchObject({ SideEffect: 'audit' });
    expect((await read()).backends[ROLE_NAME]?.serving?.status).toBe('ACTIVE');
  });

  it('succeeds again when retried after a newer onboarding already recorded its pending config', async () => {
    await pending(1, { status: 'VERIFIED' });
    await activate(context(), deps());
    await pending(2, { status: 'PENDING' });
    await expect(activate(context(), deps())).resolves.toMatchObject({ alreadyActive: true, configVersion: 1 });
  });

  it('never drops a newer pending customer role from the platform policy while rewriting it', async () => {
    // Prepare: v1 served OLD_ARN, then was offboarded (so only the newer roles remain); v2 (CUSTOMER_ROLE_ARN)
    // activates; while Activate writes the policy, a newer onboarding v3 with a third role records its pending
    // config (its own CreatePlatformRole wrote first).
    const NEWER_ARN = 'arn:aws:iam::222222222222:role/NewerPeridioRole';
    await pending(1, { status: 'VERIFIED', upload: { ...config().upload, roleArn: OLD_ARN } });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: config({ configVersion: 1 }).executionArn }, T0);
    await materializeLocations(table, await read(), T0);
    await table.ddb.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: `ORG#${ORG_ID}`, sk: `LOCATION#b.${ROLE_NAME}.1` },
        UpdateExpression: 'SET #s = :o',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':o': 'offboarded' },
      }),
    );
    await pending(2, { status: 'VERIFIED' });
    let first = true;
    iamMock.on(PutRolePolicyCommand).callsFake(async () => {
      if (first) {
        first = false;
        await pending(3, { status: 'PENDING', upload: { ...config().upload, roleArn: NEWER_ARN } });
      }
      return {};
    });
    // Act
    const result = await activate(context({ configVersion: 2 }), deps());
    // Assess: the first write allowed only v2's role; the re-check saw v3 and wrote both
    expect(result.platformPolicyNarrowed).toBe(true);
    expect(policyArns(0)).toEqual([CUSTOMER_ROLE_ARN]);
    expect(policyArns(1).sort()).toEqual([CUSTOMER_ROLE_ARN, NEWER_ARN].sort());
    expect(iamMock).toHaveReceivedCommandTimes(PutRolePolicyCommand, 2);
  });

  it('narrows to the serving role once the newer onboarding is over', async () => {
    await pending(1, { status: 'VERIFIED' });
    await activate(context(), deps());
    await pending(2, { status: 'PENDING', upload: { ...config().upload, roleArn: OLD_ARN } });
    await markAbandoned(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: config({ configVersion: 2 }).executionArn }, {
      now: T0,
      reason: { name: 'ExecutionAbandoned', message: 'x', remediation: 'y', at: T0.toISOString() },
    });
    iamMock.resetHistory();
    await activate(context(), deps());
    expect(policyArns(0)).toEqual([CUSTOMER_ROLE_ARN]);
  });

  it('keeps the claims of the config the activation replaced: retired is still connected, until offboarded', async () => {
    // Prepare: v1 served from old-bucket; v2 (acme-firmware) activates
    const sfn = new SFNClient({ region: 'us-east-1' });
    const claim = (version: number, bucket: string) => ({
      ...context({ configVersion: version }),
      roleArn: CUSTOMER_ROLE_ARN,
      bucket,
    });
    await pending(1, { status: 'VERIFIED', upload: { ...config().upload, bucket: 'old-bucket' } });
    await acquireClaims(table, sfn, claim(1, 'old-bucket'), T0);
    await activate(context(), deps());
    await pending(2, { status: 'VERIFIED' });
    await acquireClaims(table, sfn, claim(2, 'acme-firmware'), T0);
    // Act
    await activate(context({ configVersion: 2 }), deps());
    // Assess: both configs keep their claims (v1's location is retired, not offboarded)
    const claimsOf = async (bucket: string) =>
      Object.keys((await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk: bucketClaimPk(bucket), sk: 'CLAIM' } }))).Item!.claims);
    expect(await claimsOf('old-bucket')).toEqual([context().executionName]);
    expect(await claimsOf('acme-firmware')).toEqual([context({ configVersion: 2 }).executionName]);
    // ... and they hold against another org: v1's retired location item makes its claim live (no SFN call needed)
    const otherOrg = { orgId: '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a', roleName: 'theirs', roleArn: 'arn:aws:iam::333333333333:role/Theirs' };
    await expect(checkClaims(table, sfn, { ...otherOrg, bucket: 'old-bucket', prefix: '' })).rejects.toThrow(ClaimedByAnotherOrgError);
    expect(metrics).toEqual([]);
  });

  it('turns DynamoDB throttling into TransientError', async () => {
    const store = { ddb: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), tableName: 't' };
    const ddbMock = mockClient(store.ddb);
    ddbMock.on(GetCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow', $metadata: {} }));
    await expect(activate(context(), { ...deps(), store })).rejects.toThrow(TransientError);
    ddbMock.restore();
  });

  it('refuses a malformed state input through the handler', async () => {
    const handler = createHandler(deps());
    await expect(handler({ ...context(), executionArn: undefined }, {} as never)).rejects.toThrow(ValidationError);
  });
});
