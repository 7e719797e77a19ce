import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteRoleCommand, DeleteRolePolicyCommand, IAMClient, ListRolePoliciesCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { DeleteSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DownloadConfig } from '#shared/records/model';
import { ensureBackend, writePendingConfig } from '#shared/records/pending-writes';
import { activatePending, deactivateOrg } from '#shared/records/lifecycle-writes';
import { BackendNotFoundError, ConfigStillServingError, OnboardingInProgressError, TransientError, ValidationError } from '#shared/errors';
import { locationFor, locationSk, type LocationRecord } from '#shared/records/location-read';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient } from '@aws-sdk/client-sfn';
import { acquireClaims, bucketClaimPk, checkClaims, roleClaimPk, type ClaimRequest } from '#shared/claims';
import { ClaimedByAnotherOrgError } from '#shared/errors';
import { KEY_RECOVERY_WINDOW_DAYS, neededCustomerRoleArns, offboard, offboardExecutionName, type OffboardDeps } from '../../functions/offboard/offboard';
import { createHandler } from '../../functions/offboard/handler';
import { INLINE_POLICY_NAME } from '#shared/platform-role';
import { startRecordsTable, type RecordsTable } from './helpers/records-table';
import { SUPPORT_ARN, httpApiEvent } from './helpers/http-api';
import { CUSTOMER_ACCOUNT, ORG_ID, PLATFORM_ROLE_ARN, ROLE_NAME, T0, config, executionArnFor, nameFor } from './helpers/fixtures';

const OLD_ROLE = `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PeridioBinariesOld`;
const NEW_ROLE = `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PeridioBinariesNew`;
const SECRET_1 = `arn:aws:secretsmanager:us-east-1:111111111111:secret:binary-backends/local/cloudfront/${ORG_ID}/prod-1-AbCdEf`;
const SECRET_2 = `arn:aws:secretsmanager:us-east-1:111111111111:secret:binary-backends/local/cloudfront/${ORG_ID}/prod-2-GhIjKl`;
const IAM_ROLE = `binary_backend_${ORG_ID}_${ROLE_NAME}`;
const BY = 'arn:aws:sts::111111111111:assumed-role/Operators/bob';

const cloudfront = (secret: string): DownloadConfig => ({
  type: 'cloudfront',
  host: 'd111111abcdef8.cloudfront.net',
  keyPairId: 'K2JCJMDEHXQW5F',
  hashAlgorithm: 'SHA256',
  privateKeySecretArn: secret,
});

const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } });
const noSuchEntity = () => Object.assign(new Error('The role cannot be found.'), { name: 'NoSuchEntityException', $metadata: { httpStatusCode: 404 } });

describe('Function: offboard', () => {
  const iamMock = mockClient(IAMClient);
  const secretsMock = mockClient(SecretsManagerClient);
  const eventsMock = mockClient(EventBridgeClient);
  let table: RecordsTable;
  const now = new Date(T0.getTime() + 30 * 86_400_000);
  const sleeps: number[] = [];
  const deps = (): OffboardDeps => ({
    store: table,
    iam: new IAMClient({ region: 'us-east-1' }),
    secrets: new SecretsManagerClient({ region: 'us-east-1' }),
    events: new EventBridgeClient({ region: 'us-east-1' }),
    eventBusName: 'bus',
    clock: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });

  beforeAll(async () => {
    table = await startRecordsTable();
  });
  afterAll(async () => {
    iamMock.restore();
    secretsMock.restore();
    eventsMock.restore();
    await table.stop();
  });
  beforeEach(async () => {
    sleeps.length = 0;
    iamMock.reset();
    secretsMock.reset();
    eventsMock.reset();
    iamMock.on(PutRolePolicyCommand).resolves({});
    iamMock.on(ListRolePoliciesCommand).resolves({ PolicyNames: [INLINE_POLICY_NAME], IsTruncated: false });
    iamMock.on(DeleteRolePolicyCommand).resolves({});
    iamMock.on(DeleteRoleCommand).resolves({});
    secretsMock.on(DeleteSecretCommand).callsFake((input: { SecretId: string; RecoveryWindowInDays?: number }) => ({
      ARN: input.SecretId,
      DeletionDate: new Date(now.getTime() + (input.RecoveryWindowInDays ?? 30) * 86_400_000),
    }));
    eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    await table.clear();
  });

  /** A location item in the contract's shape (docs/locations.md), as the `locations` branch will write it. */
  async function putLocation(version: number, overrides: Partial<LocationRecord> = {}): Promise<LocationRecord> {
    const location = locationFor(ROLE_NAME, version);
    const item: LocationRecord = {
      pk: `ORG#${ORG_ID}`,
      sk: locationSk(location),
      orgId: ORG_ID,
      location,
      roleName: ROLE_NAME,
      configVersion: version,
      state: 'retired',
      executionName: nameFor(version),
      requestedBy: 'arn:aws:iam::111111111111:user/support',
      platformRoleArn: PLATFORM_ROLE_ARN,
      upload: { bucket: `acme-firmware-${version}`, region: 'eu-west-1', roleArn: OLD_ROLE, accountId: CUSTOMER_ACCOUNT },
      download: { type: 's3' },
      activatedAt: T0.toISOString(),
      retiredAt: T0.toISOString(),
      retiredReason: 'replaced',
      createdAt: T0.toISOString(),
      updatedAt: T0.toISOString(),
      ...overrides,
    };
    await table.ddb.send(new PutCommand({ TableName: table.tableName, Item: item }));
    return item;
  }

  /** Config `version` of the backend serves (org item), with its own location item in state serving. */
  async function serve(version: number, download: DownloadConfig = { type: 's3' }, roleArn = NEW_ROLE) {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    const cfg = config({ configVersion: version, status: 'VERIFIED', download, upload: { bucket: `acme-firmware-${version}`, region: 'eu-west-1', roleArn, accountId: CUSTOMER_ACCOUNT } });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: cfg, now: T0 });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: executionArnFor(nameFor(version)) }, T0);
    await putLocation(version, { state: 'serving', download, upload: cfg.upload, retiredAt: undefined, retiredReason: undefined });
  }

  const getItem = async (version: number) =>
    (await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk: `ORG#${ORG_ID}`, sk: locationSk(locationFor(ROLE_NAME, version)) } })))
      .Item as LocationRecord | undefined;
  const snapshot = async () => JSON.stringify(((await table.raw.send(new ScanCommand({ TableName: table.tableName }))).Items ?? []).sort((a, b) => (a.sk!.S! < b.sk!.S! ? -1 : 1)));
  const audits = async () =>
    ((await table.raw.send(new ScanCommand({ TableName: table.tableName }))).Items ?? []).filter((i) => i.sk!.S!.startsWith('EVENT#offboard-'));
  const offboardedEvents = () => eventsMock.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries![0]!).filter((e) => e.DetailType === 'Backend Offboarded');

  describe('refuses, writing nothing', () => {
    it('the serving config (the current route): ConfigStillServingError', async () => {
      await putLocation(1);
      await serve(2);
      const before = await snapshot();
      await expect(offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 2 }, deps())).rejects.toBeInstanceOf(ConfigStillServingError);
      await expect(offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 2 }, deps())).rejects.toThrow(/Deactivate the org/);
      expect(await snapshot()).toBe(before);
      expect(iamMock.calls()).toHaveLength(0);
      expect(secretsMock.calls()).toHaveLength(0);
      expect(eventsMock.calls()).toHaveLength(0);
    });

    it('a location item still in state serving that the org item no longer routes to (not reconciled yet)', async () => {
      await putLocation(1, { state: 'serving' });
      await expect(offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1 }, deps())).rejects.toBeInstanceOf(ConfigStillServingError);
      expect((await getItem(1))!.state).toBe('serving');
    });

    it('a config version that never served: ValidationError naming configVersion', async () => {
      await putLocation(1);
      await serve(2);
      const err = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 7 }, deps()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).fields).toEqual(['configVersion']);
      expect((err as Error).message).toMatch(/no config 7 that ever served \(configs that served: 1, 2\)/);
    });

    it('a backend the org does not have: BackendNotFoundError', async () => {
      await expect(offboard({ orgId: ORG_ID, roleName: 'staging' }, deps())).rejects.toBeInstanceOf(BackendNotFoundError);
    });

    it('a backend with an onboarding in progress: OnboardingInProgressError naming it', async () => {
      await putLocation(1);
      await serve(2);
      await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 3, status: 'AWAITING_TRUST' }), now: T0 });
      const before = await snapshot();
      await expect(offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1 }, deps())).rejects.toThrow(OnboardingInProgressError);
      await expect(offboard({ orgId: ORG_ID, roleName: ROLE_NAME }, deps())).rejects.toThrow(new RegExp(`${nameFor(3)}, config 3, AWAITING_TRUST`));
      expect(await snapshot()).toBe(before);
      expect(iamMock.calls()).toHaveLength(0);
    });

    it('bad input: a ValidationError naming every bad field', async () => {
      const err = await offboard({ orgId: 'NOT-AN-ORG', roleName: '', configVersion: 0, reason: 'x\u001b[2J', dryRun: 'yes', extra: 1 }, deps()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect([...(err as ValidationError).fields].sort()).toEqual(['configVersion', 'dryRun', 'extra', 'orgId', 'reason', 'roleName']);
    });

    it('a body that names its own requestedBy on the API (the requester is the verified caller)', async () => {
      await putLocation(1);
      const handler = createHandler(deps());
      const res = (await handler(httpApiEvent('POST /offboardings', { orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: 'arn:aws:iam::111111111111:user/boss' }), {} as never)) as {
        statusCode: number;
        body: string;
      };
      expect(res.statusCode).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ errorType: 'ValidationError', errorMessage: expect.stringMatching(/^requestedBy: /) });
      expect((await getItem(1))!.state).toBe('retired');
    });
  });

  it('dry run: answers exactly what would be removed and changes nothing', async () => {
    await putLocation(1, { download: cloudfront(SECRET_1) });
    await serve(2, cloudfront(SECRET_2));
    const before = await snapshot();
    const plan = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, dryRun: true, reason: 'customer left bucket 1', requestedBy: BY }, deps());
    expect(plan).toMatchObject({
      dryRun: true,
      nothingToDo: false,
      offboarded: [{ location: 'b.prod.1', configVersion: 1, bucket: 'acme-firmware-1', download: 'cloudfront', customerRoleArn: OLD_ROLE }],
      alreadyOffboarded: [],
      platformRole: { name: IAM_ROLE, action: 'kept', allowedCustomerRoleArns: [NEW_ROLE], removedCustomerRoleArns: [OLD_ROLE] },
      keysScheduledForDeletion: [{ secretArn: SECRET_1, locations: ['b.prod.1'], outcome: 'would-schedule' }],
      keysKept: [],
      stillConnected: [{ location: 'b.prod.2', state: 'serving' }],
      claimsReleased: [{ location: 'b.prod.1', executionName: nameFor(1), customerRoleArn: OLD_ROLE, bucket: 'acme-firmware-1', prefix: '' }],
    });
    expect(await snapshot()).toBe(before);
    expect(iamMock.calls()).toHaveLength(0);
    expect(secretsMock.calls()).toHaveLength(0);
    expect(eventsMock.calls()).toHaveLength(0);
  });

  it('marks the retired config offboarded with who, when and why, and writes the Offboard audit event', async () => {
    await putLocation(1);
    await serve(2);
    const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, reason: 'bucket 1 decommissioned', requestedBy: BY }, deps());
    expect(result.offboarded.map((o) => o.location)).toEqual(['b.prod.1']);
    expect(await getItem(1)).toMatchObject({ state: 'offboarded', offboardedAt: now.toISOString(), offboardedBy: BY, offboardReason: 'bucket 1 decommissioned' });
    expect((await getItem(2))!.state).toBe('serving');
    const audit = (
      await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk: `ORG#${ORG_ID}`, sk: `EVENT#${offboardExecutionName(ROLE_NAME, [1])}#Offboard#1` } }))
    ).Item!;
    expect(audit).toMatchObject({ step: 'Offboard', executionName: 'offboard-prod-1', detail: { roleName: ROLE_NAME, locations: ['b.prod.1'], by: BY, reason: 'bucket 1 decommissioned', platformRole: 'kept' } });
  });

  it('keeps the platform role while a config needs it, narrowed to the customer roles still needed', async () => {
    await putLocation(1);
    await serve(2);
    const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, requestedBy: BY }, deps());
    expect(result.platformRole).toEqual({ name: IAM_ROLE, action: 'kept', allowedCustomerRoleArns: [NEW_ROLE], removedCustomerRoleArns: [OLD_ROLE] });
    const puts = iamMock.commandCalls(PutRolePolicyCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0]!.args[0].input).toMatchObject({ RoleName: IAM_ROLE, PolicyName: INLINE_POLICY_NAME });
    expect(JSON.parse(puts[0]!.args[0].input.PolicyDocument!).Statement).toEqual([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: NEW_ROLE }]);
    expect(iamMock.commandCalls(DeleteRoleCommand)).toHaveLength(0);
    expect(iamMock.commandCalls(DeleteRolePolicyCommand)).toHaveLength(0);
  });

  it('keeps another retired config\'s customer role in the policy', async () => {
    await putLocation(1);
    await putLocation(2, { upload: { bucket: 'acme-firmware-2', region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/Middle', accountId: CUSTOMER_ACCOUNT } });
    await serve(3);
    const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, requestedBy: BY }, deps());
    expect(result.platformRole.allowedCustomerRoleArns).toEqual(['arn:aws:iam::222222222222:role/Middle', NEW_ROLE]);
    expect((await getItem(2))!.state).toBe('retired');
  });

  it('deletes the platform role when no config needs it any more: inline policies first, then the role', async () => {
    await putLocation(1);
    await serve(2);
    await deactivateOrg(table, { orgId: ORG_ID, now: T0 });
    await putLocation(2, { state: 'retired', upload: { bucket: 'acme-firmware-2', region: 'eu-west-1', roleArn: NEW_ROLE, accountId: CUSTOMER_ACCOUNT }, retiredReason: 'deactivated' });
    iamMock.on(ListRolePoliciesCommand).resolves({ PolicyNames: [INLINE_POLICY_NAME, 'leftover'], IsTruncated: false });
    const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, deps());
    expect(result.offboarded.map((o) => o.configVersion)).toEqual([1, 2]);
    expect(result.platformRole).toMatchObject({ action: 'deleted', allowedCustomerRoleArns: [], removedCustomerRoleArns: [NEW_ROLE, OLD_ROLE].sort() });
    const order = iamMock.calls().map((c) => c.args[0].constructor.name);
    expect(order).toEqual(['ListRolePoliciesCommand', 'DeleteRolePolicyCommand', 'DeleteRolePolicyCommand', 'DeleteRoleCommand']);
    expect(iamMock.commandCalls(DeleteRolePolicyCommand).map((c) => c.args[0].input.PolicyName)).toEqual([INLINE_POLICY_NAME, 'leftover']);
    expect(iamMock.commandCalls(DeleteRoleCommand)[0]!.args[0].input).toEqual({ RoleName: IAM_ROLE });
    expect(iamMock.commandCalls(PutRolePolicyCommand)).toHaveLength(0);
  });

  it('keeps the platform role when an onboarding of the backend starts while offboarding runs (fresh read)', async () => {
    await putLocation(1);
    await deactivateOrg(table, { orgId: ORG_ID, now: T0 }); // org item exists, nothing routes
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    // A re-onboarding is recorded right after our first read (here: right after the item is marked).
    let raced = false;
    const racing = {
      ...table,
      ddb: {
        send: async (command: { constructor: { name: string } }) => {
          const out = await table.ddb.send(command as never);
          if (!raced && command.constructor.name === 'UpdateCommand') {
            raced = true;
            await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2, status: 'PENDING', upload: { ...config().upload, roleArn: NEW_ROLE } }), now: T0 });
          }
          return out;
        },
      } as unknown as RecordsTable['ddb'],
    };
    const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, { ...deps(), store: racing });
    expect(raced).toBe(true);
    expect((await getItem(1))!.state).toBe('offboarded');
    expect(result.platformRole).toMatchObject({ action: 'kept', allowedCustomerRoleArns: [NEW_ROLE] });
    expect(iamMock.commandCalls(DeleteRoleCommand)).toHaveLength(0);
    expect(JSON.parse(iamMock.commandCalls(PutRolePolicyCommand)[0]!.args[0].input.PolicyDocument!).Statement[0].Resource).toBe(NEW_ROLE);
  });

  it('looks again when IAM answers DeleteConflict (a policy added between its deletes)', async () => {
    await putLocation(1);
    iamMock
      .on(DeleteRoleCommand)
      .rejectsOnce(Object.assign(new Error('Cannot delete entity, must delete policies first.'), { name: 'DeleteConflictException', $metadata: { httpStatusCode: 409 } }))
      .resolves({});
    const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, deps());
    expect(result.platformRole.action).toBe('deleted');
    expect(iamMock.commandCalls(ListRolePoliciesCommand)).toHaveLength(2);
    expect(iamMock.commandCalls(DeleteRoleCommand)).toHaveLength(2);
  });

  it('treats a platform role that is already gone (NoSuchEntity) as deleted', async () => {
    await putLocation(1);
    iamMock.on(ListRolePoliciesCommand).rejects(noSuchEntity());
    const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, deps());
    expect(result.platformRole.action).toBe('deleted');
    expect(iamMock.commandCalls(DeleteRoleCommand)).toHaveLength(0);
  });

  it('offboards a retired config that has no location item yet (written before locations existed)', async () => {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 1, status: 'VERIFIED' }), now: T0 });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: executionArnFor(nameFor(1)) }, T0);
    await deactivateOrg(table, { orgId: ORG_ID, now: T0 });
    const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, requestedBy: BY }, deps());
    expect(result.offboarded.map((o) => o.location)).toEqual(['b.prod.1']);
    expect(await getItem(1)).toMatchObject({ state: 'offboarded', offboardedBy: BY, configVersion: 1, upload: { bucket: 'acme-firmware' } });
    expect(result.platformRole.action).toBe('deleted');
  });

  describe('CloudFront keys', () => {
    it('schedules deletion with the 30-day recovery window (never forced) and records the date on the item', async () => {
      await putLocation(1, { download: cloudfront(SECRET_1) });
      await serve(2, cloudfront(SECRET_2));
      const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, requestedBy: BY }, deps());
      const calls = secretsMock.commandCalls(DeleteSecretCommand);
      expect(calls.map((c) => c.args[0].input)).toEqual([{ SecretId: SECRET_1, RecoveryWindowInDays: KEY_RECOVERY_WINDOW_DAYS }]);
      expect(KEY_RECOVERY_WINDOW_DAYS).toBe(30);
      const date = new Date(now.getTime() + 30 * 86_400_000).toISOString();
      expect(result.keysScheduledForDeletion).toEqual([{ secretArn: SECRET_1, locations: ['b.prod.1'], outcome: 'scheduled', deletionDate: date }]);
      expect(await getItem(1)).toMatchObject({ keyDeletionScheduledAt: now.toISOString(), keyDeletionDate: date });
    });

    it('never schedules a key that a connected config (serving, retired or pending) still references', async () => {
      await putLocation(1, { download: cloudfront(SECRET_1) });
      await putLocation(2, { download: cloudfront(SECRET_2) });
      await serve(3, cloudfront(SECRET_1));
      const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, requestedBy: BY }, deps());
      expect(secretsMock.commandCalls(DeleteSecretCommand)).toHaveLength(0);
      expect(result.keysKept).toEqual([{ secretArn: SECRET_1, stillUsedBy: expect.arrayContaining(['b.prod.3']) }]);
      expect((await getItem(1))!.keyDeletionScheduledAt).toBeUndefined();

      // A failed pending config naming SECRET_2 keeps it too.
      await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 4, status: 'FAILED', download: cloudfront(SECRET_2) }), now: T0 });
      const second = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 2, requestedBy: BY }, deps());
      expect(secretsMock.commandCalls(DeleteSecretCommand)).toHaveLength(0);
      // SECRET_1 of the already offboarded config 1 is looked at again (still used), SECRET_2 is kept for the pending one.
      expect(second.keysKept).toEqual([
        { secretArn: SECRET_1, stillUsedBy: ['b.prod.3'] },
        { secretArn: SECRET_2, stillUsedBy: [`pending ${ROLE_NAME} v4`] },
      ]);
    });

    it('deletes a key shared by two configs once both are offboarded, and records it on both', async () => {
      await putLocation(1, { download: cloudfront(SECRET_1) });
      await putLocation(2, { download: cloudfront(SECRET_1) });
      await serve(3);
      const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, deps());
      expect(secretsMock.commandCalls(DeleteSecretCommand)).toHaveLength(1);
      expect(result.keysScheduledForDeletion[0]).toMatchObject({ secretArn: SECRET_1, locations: ['b.prod.1', 'b.prod.2'] });
      expect((await getItem(1))!.keyDeletionScheduledAt).toBe(now.toISOString());
      expect((await getItem(2))!.keyDeletionScheduledAt).toBe(now.toISOString());
    });

    it('accepts a secret already marked for deletion', async () => {
      await putLocation(1, { download: cloudfront(SECRET_1) });
      secretsMock
        .on(DeleteSecretCommand)
        .rejects(Object.assign(new Error("You can't perform this operation on the secret because it was marked for deletion."), { name: 'InvalidRequestException' }));
      const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, deps());
      expect(result.keysScheduledForDeletion).toEqual([{ secretArn: SECRET_1, locations: ['b.prod.1'], outcome: 'already-scheduled' }]);
      expect((await getItem(1))!.state).toBe('offboarded');
    });
  });

  describe('throttling', () => {
    it('retries a throttled AWS call with the injected sleep, then succeeds', async () => {
      await putLocation(1, { download: cloudfront(SECRET_1) });
      await serve(2);
      iamMock.on(PutRolePolicyCommand).rejectsOnce(throttled()).resolves({});
      secretsMock.on(DeleteSecretCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({ ARN: SECRET_1, DeletionDate: now });
      eventsMock.on(PutEventsCommand).rejectsOnce(Object.assign(new Error('slow down'), { name: 'ThrottlingException' })).resolves({ FailedEntryCount: 0, Entries: [{}] });
      const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, deps());
      expect(result.platformRole.action).toBe('kept');
      expect(iamMock.commandCalls(PutRolePolicyCommand)).toHaveLength(2);
      expect(secretsMock.commandCalls(DeleteSecretCommand)).toHaveLength(3);
      // The throttled PutEvents and its retry: one event delivered.
      expect(offboardedEvents()).toHaveLength(2);
      expect(sleeps).toEqual([200, 200, 400, 200]);
    });

    it('gives up after the bounded attempts with TransientError, and a second run finishes the job', async () => {
      await putLocation(1);
      iamMock.on(ListRolePoliciesCommand).rejects(throttled());
      const err = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, { ...deps(), attempts: 3 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect(iamMock.commandCalls(ListRolePoliciesCommand)).toHaveLength(3);
      expect((await getItem(1))!.state).toBe('offboarded');
      expect(offboardedEvents()).toHaveLength(0);

      iamMock.on(ListRolePoliciesCommand).resolves({ PolicyNames: [], IsTruncated: false });
      const again = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, deps());
      expect(again).toMatchObject({ offboarded: [], alreadyOffboarded: [{ location: 'b.prod.1', configVersion: 1 }], platformRole: { action: 'deleted' } });
      expect(iamMock.commandCalls(DeleteRoleCommand)).toHaveLength(1);
      expect(offboardedEvents()).toHaveLength(1);
      expect(await audits()).toHaveLength(1);
    });
  });

  it('is a no-op the second time: nothing rewritten, no second audit event or Backend Offboarded', async () => {
    await putLocation(1, { download: cloudfront(SECRET_1) });
    await serve(2);
    await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, reason: 'first', requestedBy: BY }, deps());
    const after = await getItem(1);
    const later: OffboardDeps = { ...deps(), clock: () => new Date(now.getTime() + 3_600_000) };
    const again = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, reason: 'second', requestedBy: 'someone-else' }, later);
    expect(again.offboarded).toEqual([]);
    expect(again.alreadyOffboarded).toEqual([{ location: 'b.prod.1', configVersion: 1, offboardedAt: now.toISOString(), offboardedBy: BY }]);
    expect(again.keysScheduledForDeletion).toEqual([]);
    expect(await getItem(1)).toEqual(after);
    expect(secretsMock.commandCalls(DeleteSecretCommand)).toHaveLength(1);
    expect(offboardedEvents()).toHaveLength(1);
    expect(await audits()).toHaveLength(1);
  });

  it('answers nothingToDo when the backend has no retired config, and changes nothing', async () => {
    await serve(1);
    const before = await snapshot();
    const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, deps());
    expect(result).toMatchObject({ nothingToDo: true, offboarded: [], alreadyOffboarded: [] });
    expect(await snapshot()).toBe(before);
    expect(iamMock.calls()).toHaveLength(0);
    expect(eventsMock.calls()).toHaveLength(0);
  });

  it('emits Backend Offboarded with non-secret detail', async () => {
    await putLocation(1, { download: cloudfront(SECRET_1) });
    await serve(2);
    await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, reason: 'moved to bucket 2', requestedBy: BY }, deps());
    const [entry] = offboardedEvents();
    expect(entry).toMatchObject({ Source: 'peridio.binary-backends', EventBusName: 'bus' });
    expect(JSON.parse(entry!.Detail!)).toEqual({
      orgId: ORG_ID,
      roleName: ROLE_NAME,
      locations: ['b.prod.1'],
      offboardedBy: BY,
      offboardedAt: now.toISOString(),
      reason: 'moved to bucket 2',
      platformRole: 'kept',
      keysScheduledForDeletion: [SECRET_1],
    });
    expect(entry!.Detail).not.toMatch(/PRIVATE KEY/);
  });

  it('through the HTTP API records the verified caller as offboardedBy', async () => {
    await putLocation(1);
    await serve(2);
    const handler = createHandler(deps());
    const res = (await handler(httpApiEvent('POST /offboardings', { orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, reason: 'api' }), {} as never)) as {
      statusCode: number;
      body: string;
    };
    expect(res.statusCode, res.body).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ offboardedBy: SUPPORT_ARN, offboarded: [{ location: 'b.prod.1' }] });
    expect((await getItem(1))!.offboardedBy).toBe(SUPPORT_ARN);
  });

  it('answers the serving config on the HTTP API with 409 ConfigStillServingError', async () => {
    await serve(1);
    const handler = createHandler(deps());
    const res = (await handler(httpApiEvent('POST /offboardings', { orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1 }), {} as never)) as { statusCode: number; body: string };
    expect(res.statusCode).toBe(409);
    expect(JSON.parse(res.body)).toMatchObject({ errorType: 'ConfigStillServingError' });
  });

  describe('cross-org claims', () => {
    const OTHER_ORG = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
    const sfnMock = mockClient(SFNClient);
    const sfn = () => new SFNClient({ region: 'us-east-1' });
    /** The claim the onboarding of config `version` took (its execution is over). */
    const claimOf = (version: number, roleArn: string, bucket: string): ClaimRequest => ({
      orgId: ORG_ID,
      roleName: ROLE_NAME,
      configVersion: version,
      executionArn: executionArnFor(nameFor(version)),
      executionName: nameFor(version),
      roleArn,
      bucket,
    });
    /** Another org onboarding a role and bucket (+ prefix) of its own. */
    const theirs = (overrides: Partial<ClaimRequest>): ClaimRequest => ({
      orgId: OTHER_ORG,
      roleName: 'theirs',
      configVersion: 1,
      executionArn: executionArnFor(`${OTHER_ORG}-theirs-1`),
      executionName: `${OTHER_ORG}-theirs-1`,
      roleArn: 'arn:aws:iam::333333333333:role/Theirs',
      bucket: 'their-bucket',
      ...overrides,
    });
    const claimsOn = async (pk: string) =>
      Object.keys(((await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk, sk: 'CLAIM' } }))).Item?.claims ?? {}) as object).sort();

    beforeEach(() => {
      sfnMock.reset();
      sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'over', $metadata: {} }));
    });
    afterAll(() => sfnMock.restore());

    it("releases the offboarded config's claims: another org may then onboard its bucket and role; the serving config keeps its own", async () => {
      await putLocation(1);
      await serve(2);
      await acquireClaims(table, sfn(), claimOf(1, OLD_ROLE, 'acme-firmware-1'), T0);
      await acquireClaims(table, sfn(), claimOf(2, NEW_ROLE, 'acme-firmware-2'), T0);
      // While v1 is retired, another org may take neither its bucket nor its customer role
      await expect(checkClaims(table, sfn(), theirs({ bucket: 'acme-firmware-1', prefix: 'x/' }))).rejects.toThrow(ClaimedByAnotherOrgError);
      await expect(checkClaims(table, sfn(), theirs({ roleArn: OLD_ROLE }))).rejects.toThrow(ClaimedByAnotherOrgError);
      // A dry run lists the claims and releases nothing
      const plan = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, dryRun: true, requestedBy: BY }, deps());
      expect(plan.claimsReleased).toEqual([{ location: 'b.prod.1', executionName: nameFor(1), customerRoleArn: OLD_ROLE, bucket: 'acme-firmware-1', prefix: '' }]);
      expect(await claimsOn(bucketClaimPk('acme-firmware-1'))).toEqual([nameFor(1)]);
      // Act
      const result = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, configVersion: 1, requestedBy: BY }, deps());
      // Assess
      expect(result.claimsReleased).toEqual(plan.claimsReleased);
      expect(await claimsOn(bucketClaimPk('acme-firmware-1'))).toEqual([]);
      expect(await claimsOn(roleClaimPk(OLD_ROLE))).toEqual([]);
      expect(await claimsOn(bucketClaimPk('acme-firmware-2'))).toEqual([nameFor(2)]);
      expect(await claimsOn(roleClaimPk(NEW_ROLE))).toEqual([nameFor(2)]);
      await expect(acquireClaims(table, sfn(), theirs({ bucket: 'acme-firmware-1', roleArn: OLD_ROLE }), T0)).resolves.toBeUndefined();
      // ... but still not the serving config's
      await expect(checkClaims(table, sfn(), theirs({ bucket: 'acme-firmware-2' }))).rejects.toThrow(ClaimedByAnotherOrgError);
    });

    it('releases them idempotently: a second run, and a run that failed after marking, finish the release', async () => {
      await putLocation(1);
      await serve(2);
      await acquireClaims(table, sfn(), claimOf(1, OLD_ROLE, 'acme-firmware-1'), T0);
      // A run that marked v1 and then died before releasing (simulated: marked by hand)
      await table.ddb.send(
        new PutCommand({ TableName: table.tableName, Item: { ...(await getItem(1))!, state: 'offboarded', offboardedAt: now.toISOString(), offboardedBy: BY } }),
      );
      expect(await claimsOn(bucketClaimPk('acme-firmware-1'))).toEqual([nameFor(1)]);
      const again = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, deps());
      expect(again.alreadyOffboarded.map((a) => a.location)).toEqual(['b.prod.1']);
      expect(again.claimsReleased.map((c) => c.location)).toEqual(['b.prod.1']);
      expect(await claimsOn(bucketClaimPk('acme-firmware-1'))).toEqual([]);
      const third = await offboard({ orgId: ORG_ID, roleName: ROLE_NAME, requestedBy: BY }, deps());
      expect(third.claimsReleased.map((c) => c.location)).toEqual(['b.prod.1']);
      expect(await claimsOn(roleClaimPk(OLD_ROLE))).toEqual([]);
    });
  });

  it('computes the customer roles still needed from the org item and the location items', () => {
    const item = (v: number, state: LocationRecord['state'], roleArn: string) =>
      ({ roleName: ROLE_NAME, configVersion: v, state, upload: { roleArn } }) as LocationRecord;
    const record = {
      active: ROLE_NAME,
      backends: { [ROLE_NAME]: { roleName: ROLE_NAME, lastConfigVersion: 4, serving: config({ configVersion: 3, upload: { ...config().upload, roleArn: 'arn:r3' } }), pending: config({ configVersion: 4, status: 'VERIFYING', upload: { ...config().upload, roleArn: 'arn:r4' } }) } },
    } as never;
    const items = [item(1, 'offboarded', 'arn:r1'), item(2, 'retired', 'arn:r2'), item(3, 'serving', 'arn:r3')];
    expect(neededCustomerRoleArns(record, items, ROLE_NAME)).toEqual(['arn:r2', 'arn:r3', 'arn:r4']);
    expect(neededCustomerRoleArns(record, items, ROLE_NAME, new Set([2]))).toEqual(['arn:r3', 'arn:r4']);
  });
});
