/**
 * Storage-location records (docs/locations.md, issue 11): every transition of the location items through
 * Activate, Deactivate and the writes in functions/shared/records/locations.ts, on dynalite.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { IAMClient, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { activate, type ActivateDeps } from '../../functions/onboarding/activate/activate';
import { deactivate, type DeactivateDeps } from '../../functions/deactivate/deactivate';
import { allowedCustomerRoleArns } from '#shared/platform-role';
import type { BackendConfig, RecordStore } from '#shared/records/model';
import { getOrgRecord } from '#shared/records/read-sdk';
import type { OnboardingContext } from '#shared/records/workflow-context';
import { ensureBackend, writePendingConfig } from '#shared/records/pending-writes';
import { activatePending, deactivateOrg } from '#shared/records/lifecycle-writes';
import { TransientError } from '#shared/errors';
import { getLocationRecord, type LocationRecord } from '#shared/records/location-read';
import { documentClientReader, listLocations } from '#shared/records/location-read-sdk';
import { currentLocationOf, materializeLocations, putServingLocation, reconcileLocations } from '#shared/records/locations';
import { startRecordsTable, type RecordsTable } from './helpers/records-table';
import { CUSTOMER_ACCOUNT, CUSTOMER_ROLE_ARN, ORG_ID, PLATFORM_ACCOUNT, T0, config, context } from './helpers/fixtures';

const SUPPORT = 'arn:aws:iam::111111111111:user/support';
const OTHER_SUPPORT = 'arn:aws:iam::111111111111:user/other';
const CALLER = 'arn:aws:iam::111111111111:user/ops';
const OLD_ARN = `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/OldPeridioRole`;
const platformRoleOf = (roleName: string) => `arn:aws:iam::${PLATFORM_ACCOUNT}:role/binary_backend_${ORG_ID}_${roleName}`;

describe('Storage locations: the records', () => {
  const iamMock = mockClient(IAMClient);
  const eventsMock = mockClient(EventBridgeClient);
  let table: RecordsTable;
  let clock: Date;

  const activateDeps = (store: RecordStore = table): ActivateDeps => ({
    store,
    iam: new IAMClient({ region: 'us-east-1' }),
    events: new EventBridgeClient({ region: 'us-east-1' }),
    eventBusName: 'bus',
    clock: () => clock,
    sleep: async () => {},
    emitMetric: () => {},
  });
  const deactivateDeps = (): DeactivateDeps => ({ store: table, events: new EventBridgeClient({ region: 'us-east-1' }), eventBusName: 'bus', clock: () => clock });
  const read = async () => (await getOrgRecord(table.ddb, table.tableName, ORG_ID))!;
  const item = async (location: string) => getLocationRecord(documentClientReader(table.ddb), table.tableName, ORG_ID, location);
  const items = async () => listLocations(table.ddb, table.tableName, ORG_ID);
  const states = async () => Object.fromEntries((await items()).map((i) => [i.location, i.state]));
  const scan = async () => ((await table.ddb.send(new ScanCommand({ TableName: table.tableName }))).Items ?? []).map((i) => JSON.stringify(i)).sort();

  /** Context of config `version` of backend `roleName`, recorded by the given support user. */
  const ctx = (roleName: string, version: number, requestedBy = SUPPORT): OnboardingContext =>
    context({ roleName, configVersion: version, requestedBy, platformRoleArn: platformRoleOf(roleName) });

  /** Writes a VERIFIED pending config of `roleName` v`version` (what the onboarding's earlier states leave). */
  async function verified(roleName: string, version: number, overrides: Partial<BackendConfig> = {}, requestedBy = SUPPORT) {
    await ensureBackend(table, { orgId: ORG_ID, roleName, now: T0 });
    const c = ctx(roleName, version, requestedBy);
    await writePendingConfig(table, {
      orgId: ORG_ID,
      roleName,
      config: config({ configVersion: version, executionName: c.executionName, executionArn: c.executionArn, requestedBy, status: 'VERIFIED', ...overrides }),
      now: T0,
    });
    // CreatePlatformRole stores the platform role ARN on the backend.
    await table.ddb.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: `ORG#${ORG_ID}`, sk: 'BACKENDS' },
        UpdateExpression: 'SET backends.#r.platformRoleArn = :a',
        ExpressionAttributeNames: { '#r': roleName },
        ExpressionAttributeValues: { ':a': platformRoleOf(roleName) },
      }),
    );
  }

  /** Onboards and activates `roleName` v`version` through the real Activate. */
  async function onboard(roleName: string, version: number, overrides: Partial<BackendConfig> = {}, requestedBy = SUPPORT) {
    await verified(roleName, version, overrides, requestedBy);
    return activate(ctx(roleName, version, requestedBy), activateDeps());
  }

  /** What the offboard function writes (its own module): retired -> offboarded. */
  async function offboard(location: string) {
    await table.ddb.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: `ORG#${ORG_ID}`, sk: `LOCATION#${location}` },
        UpdateExpression: 'SET #s = :o, offboardedAt = :at, offboardedBy = :by',
        ConditionExpression: '#s = :r',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':o': 'offboarded', ':r': 'retired', ':at': clock.toISOString(), ':by': CALLER },
      }),
    );
  }

  beforeAll(async () => {
    table = await startRecordsTable();
  });
  afterAll(async () => {
    iamMock.restore();
    eventsMock.restore();
    await table.stop();
  });
  beforeEach(async () => {
    clock = new Date(T0.getTime() + 3_600_000);
    iamMock.reset();
    eventsMock.reset();
    iamMock.on(PutRolePolicyCommand).resolves({});
    eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    await table.clear();
  });

  it('activating the first config stores its location on the org item and puts its item as serving, an immutable copy', async () => {
    // Act
    const result = await onboard('prod', 1);
    // Assess
    expect(result).toMatchObject({ location: 'b.prod.1', retired: [] });
    expect((await read()).backends.prod?.serving?.location).toBe('b.prod.1');
    expect(currentLocationOf(await read())).toBe('b.prod.1');
    expect(await item('b.prod.1')).toEqual({
      pk: `ORG#${ORG_ID}`,
      sk: 'LOCATION#b.prod.1',
      orgId: ORG_ID,
      location: 'b.prod.1',
      roleName: 'prod',
      configVersion: 1,
      state: 'serving',
      executionName: ctx('prod', 1).executionName,
      requestedBy: SUPPORT,
      platformRoleArn: platformRoleOf('prod'),
      upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN, accountId: CUSTOMER_ACCOUNT },
      download: { type: 's3' },
      activatedAt: clock.toISOString(),
      createdAt: clock.toISOString(),
      updatedAt: clock.toISOString(),
    });
  });

  it('a re-onboarding retires the old config (replaced, replacedBy the new one, retiredBy its requester) and keeps its copy', async () => {
    // Prepare
    await onboard('prod', 1, { upload: { ...config().upload, bucket: 'bucket-1', roleArn: OLD_ARN } });
    const before = (await item('b.prod.1'))!;
    clock = new Date(clock.getTime() + 60_000);
    // Act
    const result = await onboard('prod', 2, { upload: { ...config().upload, bucket: 'bucket-2' } }, OTHER_SUPPORT);
    // Assess
    expect(result.retired).toEqual([{ location: 'b.prod.1', reason: 'replaced' }]);
    expect(await states()).toEqual({ 'b.prod.1': 'retired', 'b.prod.2': 'serving' });
    const old = (await item('b.prod.1'))!;
    expect(old).toEqual({
      ...before,
      state: 'retired',
      retiredAt: clock.toISOString(),
      retiredReason: 'replaced',
      retiredBy: OTHER_SUPPORT,
      replacedBy: 'b.prod.2',
      updatedAt: clock.toISOString(),
    });
    expect(old.upload).toMatchObject({ bucket: 'bucket-1', roleArn: OLD_ARN });
    // The platform role keeps the old customer role assumable (retired, not offboarded).
    const policy = JSON.parse(iamMock.commandCalls(PutRolePolicyCommand).at(-1)!.args[0].input.PolicyDocument!);
    expect(policy.Statement[0].Resource).toEqual([CUSTOMER_ROLE_ARN, OLD_ARN].sort());
  });

  it('switching to another backend retires the previous backend\'s config, replaced by the new backend\'s location', async () => {
    // Prepare
    await onboard('prod', 1);
    // Act
    const result = await onboard('staging', 1, {}, OTHER_SUPPORT);
    // Assess
    expect(result).toMatchObject({ location: 'b.staging.1', previousActive: 'prod', retired: [{ location: 'b.prod.1', reason: 'replaced' }] });
    expect(await states()).toEqual({ 'b.prod.1': 'retired', 'b.staging.1': 'serving' });
    expect(await item('b.prod.1')).toMatchObject({ replacedBy: 'b.staging.1', retiredBy: OTHER_SUPPORT });
  });

  it('deactivation retires the serving config (deactivated, retiredBy the caller), in the result and the audit', async () => {
    // Prepare
    await onboard('prod', 1);
    // Act
    const result = await deactivate({ orgId: ORG_ID, requestedBy: CALLER }, deactivateDeps());
    // Assess
    expect(result).toMatchObject({ deactivated: true, retired: [{ location: 'b.prod.1', reason: 'deactivated' }] });
    expect(result.warning).toMatch(/stay downloadable through their storage location \(b\.prod\.1\)/);
    const retired = (await item('b.prod.1'))!;
    expect(retired).toMatchObject({ state: 'retired', retiredReason: 'deactivated', retiredBy: CALLER, retiredAt: clock.toISOString() });
    expect(retired.replacedBy).toBeUndefined();
    const audit = await table.ddb.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :e)',
        ExpressionAttributeValues: { ':pk': `ORG#${ORG_ID}`, ':e': 'EVENT#deactivate' },
      }),
    );
    expect(audit.Items!.map((i) => i.detail.retired)).toEqual([[{ location: 'b.prod.1', reason: 'deactivated' }]]);
  });

  it('the Activate audit event carries what it retired', async () => {
    await onboard('prod', 1);
    await onboard('prod', 2);
    const audit = await table.ddb.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :e)',
        ExpressionAttributeValues: { ':pk': `ORG#${ORG_ID}`, ':e': `EVENT#${ctx('prod', 2).executionName}#Activate` },
      }),
    );
    expect(audit.Items!.map((i) => i.detail)).toEqual([expect.objectContaining({ location: 'b.prod.2', retired: [{ location: 'b.prod.1', reason: 'replaced' }] })]);
  });

  it('a deactivation of an org on default storage with nothing to retire writes nothing', async () => {
    // Prepare: a backend was created (the starter), nothing ever served
    await ensureBackend(table, { orgId: ORG_ID, roleName: 'prod', now: T0 });
    const before = await scan();
    // Act
    const result = await deactivate({ orgId: ORG_ID, requestedBy: CALLER }, deactivateDeps());
    // Assess
    expect(result).toMatchObject({ deactivated: false, retired: [] });
    expect(await scan()).toEqual(before);
  });

  it('a repeated deactivation writes nothing once everything is retired', async () => {
    await onboard('prod', 1);
    await deactivate({ orgId: ORG_ID, requestedBy: CALLER }, deactivateDeps());
    const before = await scan();
    const again = await deactivate({ orgId: ORG_ID, requestedBy: CALLER }, deactivateDeps());
    expect(again).toMatchObject({ deactivated: false, retired: [] });
    expect(await scan()).toEqual(before);
  });

  it('a deactivation that crashed after its fence write converges when run again', async () => {
    // Prepare: materialise + the fence write happened, the reconcile did not (the process died)
    await onboard('prod', 1);
    await deactivateOrg(table, { orgId: ORG_ID, now: clock });
    expect(await states()).toEqual({ 'b.prod.1': 'serving' });
    // Act
    const again = await deactivate({ orgId: ORG_ID, requestedBy: CALLER }, deactivateDeps());
    // Assess
    expect(again).toMatchObject({ deactivated: false, retired: [{ location: 'b.prod.1', reason: 'deactivated' }] });
    expect(await item('b.prod.1')).toMatchObject({ state: 'retired', retiredReason: 'deactivated', retiredBy: CALLER });
  });

  it('a retried Activate converges: same items, nothing written twice, and it reports what was retired for it', async () => {
    // Prepare
    await onboard('prod', 1);
    const first = await onboard('prod', 2);
    const before = await scan();
    // Act
    const again = await activate(ctx('prod', 2), activateDeps());
    // Assess
    expect(again).toMatchObject({ alreadyActive: true, location: 'b.prod.2', retired: first.retired });
    expect(await scan()).toEqual(before);
  });

  it('a crash between the activation write and the item writes: the retry puts the item and retires the old one', async () => {
    // Prepare: v1 serves; v2's activation write happened (directly), then the process died
    await onboard('prod', 1);
    await verified('prod', 2);
    await activatePending(table, { orgId: ORG_ID, roleName: 'prod', executionArn: ctx('prod', 2).executionArn }, clock);
    // The org item, the routing truth, is already right; the stale item says serving, which the signer never routes by.
    expect(currentLocationOf(await read())).toBe('b.prod.2');
    expect(await states()).toEqual({ 'b.prod.1': 'serving' });
    // Act
    const retry = await activate(ctx('prod', 2), activateDeps());
    // Assess
    expect(retry).toMatchObject({ alreadyActive: true, retired: [{ location: 'b.prod.1', reason: 'replaced' }] });
    expect(await states()).toEqual({ 'b.prod.1': 'retired', 'b.prod.2': 'serving' });
    expect(await item('b.prod.1')).toMatchObject({ replacedBy: 'b.prod.2', retiredBy: SUPPORT });
  });

  it('throttled location writes after the activation write throw TransientError (the step retries), and the retry converges', async () => {
    // Prepare: v1 serves; v2 is verified; every location PutItem is throttled
    await onboard('prod', 1);
    await verified('prod', 2);
    const throttled = {
      send: (command: unknown) =>
        command instanceof PutCommand && String(command.input.Item?.sk).startsWith('LOCATION#')
          ? Promise.reject(new ProvisionedThroughputExceededException({ message: 'slow', $metadata: {} }))
          : table.ddb.send(command as never),
    } as unknown as DynamoDBDocumentClient;
    // Act
    await expect(activate(ctx('prod', 2), activateDeps({ ddb: throttled, tableName: table.tableName }))).rejects.toThrow(TransientError);
    // Assess: routing already moved (one write), and nothing claims otherwise; no event was emitted yet
    expect(currentLocationOf(await read())).toBe('b.prod.2');
    expect(eventsMock.commandCalls(PutEventsCommand)).toHaveLength(1);
    // Act: the state machine retries the step
    const retry = await activate(ctx('prod', 2), activateDeps());
    // Assess
    expect(retry).toMatchObject({ alreadyActive: true, retired: [{ location: 'b.prod.1', reason: 'replaced' }] });
    expect(await states()).toEqual({ 'b.prod.1': 'retired', 'b.prod.2': 'serving' });
  });

  it('a legacy record (serving configs, no items, no location field) is materialised by the next Activate', async () => {
    // Prepare: prod served and was replaced by staging, all before locations existed (no items; the
    // location field removed, as records written then have none)
    await verified('prod', 1);
    await activatePending(table, { orgId: ORG_ID, roleName: 'prod', executionArn: ctx('prod', 1).executionArn }, T0);
    await verified('staging', 3);
    await activatePending(table, { orgId: ORG_ID, roleName: 'staging', executionArn: ctx('staging', 3).executionArn }, T0);
    await table.ddb.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: `ORG#${ORG_ID}`, sk: 'BACKENDS' },
        UpdateExpression: 'REMOVE backends.prod.serving.#l, backends.staging.serving.#l',
        ExpressionAttributeNames: { '#l': 'location' },
      }),
    );
    expect(await items()).toEqual([]);
    // Act: staging is re-onboarded
    await onboard('staging', 4);
    // Assess: prod was materialised as retired (the activation of staging replaced it, who unknown), staging 3
    // as serving, then retired by this activation
    expect(await states()).toEqual({ 'b.prod.1': 'retired', 'b.staging.3': 'retired', 'b.staging.4': 'serving' });
    expect(await item('b.prod.1')).toMatchObject({ retiredReason: 'replaced', replacedBy: 'b.staging.3', retiredBy: 'unknown', platformRoleArn: platformRoleOf('prod') });
    expect(await item('b.staging.3')).toMatchObject({ retiredReason: 'replaced', replacedBy: 'b.staging.4', retiredBy: SUPPORT });
  });

  it('materialise writes a legacy deactivated org\'s configs as retired (deactivated), and never overwrites an item', async () => {
    // Prepare
    await verified('prod', 1);
    await activatePending(table, { orgId: ORG_ID, roleName: 'prod', executionArn: ctx('prod', 1).executionArn }, T0);
    await deactivateOrg(table, { orgId: ORG_ID, now: T0 });
    // Act
    const written = await materializeLocations(table, await read(), clock);
    const again = await materializeLocations(table, await read(), new Date(clock.getTime() + 1000));
    // Assess
    expect(written).toEqual(['b.prod.1']);
    expect(again).toEqual([]);
    expect(await item('b.prod.1')).toMatchObject({ state: 'retired', retiredReason: 'deactivated', retiredAt: clock.toISOString(), updatedAt: clock.toISOString() });
    expect((await item('b.prod.1'))!.replacedBy).toBeUndefined();
  });

  it('putServingLocation is idempotent and never overwrites an existing item', async () => {
    await onboard('prod', 1);
    const before = await scan();
    const serving = (await read()).backends.prod!.serving!;
    const location = await putServingLocation(table, { orgId: ORG_ID, roleName: 'prod', config: { ...serving, upload: { ...serving.upload, bucket: 'elsewhere' } }, platformRoleArn: 'x', now: new Date(clock.getTime() + 5000) });
    expect(location).toBe('b.prod.1');
    expect(await scan()).toEqual(before);
  });

  it('reconcile never touches offboarded items', async () => {
    // Prepare: v1 replaced by v2 and offboarded; then the org is deactivated
    await onboard('prod', 1);
    await onboard('prod', 2);
    await offboard('b.prod.1');
    const offboarded = await item('b.prod.1');
    clock = new Date(clock.getTime() + 60_000);
    // Act
    const result = await deactivate({ orgId: ORG_ID, requestedBy: CALLER }, deactivateDeps());
    // Assess
    expect(result.retired).toEqual([{ location: 'b.prod.2', reason: 'deactivated' }]);
    expect(await item('b.prod.1')).toEqual(offboarded);
    // Offboarded configs' customer roles are no longer allowed; the retired one's still is.
    expect(allowedCustomerRoleArns((await read()).backends.prod, await items())).toEqual([CUSTOMER_ROLE_ARN]);
  });

  it('two reconciles racing retire each item exactly once, and agree on the final state', async () => {
    // Prepare: prod 1 and staging 1 both still marked serving (crashes before reconcile), org deactivated
    await onboard('prod', 1);
    await verified('staging', 1);
    await activatePending(table, { orgId: ORG_ID, roleName: 'staging', executionArn: ctx('staging', 1).executionArn }, clock);
    await putServingLocation(table, { orgId: ORG_ID, roleName: 'staging', config: (await read()).backends.staging!.serving!, platformRoleArn: platformRoleOf('staging'), now: clock });
    await deactivateOrg(table, { orgId: ORG_ID, now: clock });
    expect(await states()).toEqual({ 'b.prod.1': 'serving', 'b.staging.1': 'serving' });
    // Act
    const [a, b] = await Promise.all([
      reconcileLocations(table, { orgId: ORG_ID, currentLocation: undefined, reason: 'deactivated', by: 'a', now: clock }),
      reconcileLocations(table, { orgId: ORG_ID, currentLocation: undefined, reason: 'deactivated', by: 'b', now: clock }),
    ]);
    // Assess: every item retired by exactly one of them, as that one says
    const byA = a.map((r) => r.location);
    const byB = b.map((r) => r.location);
    expect([...byA, ...byB].sort()).toEqual(['b.prod.1', 'b.staging.1']);
    for (const r of await items()) {
      expect(r.state).toBe('retired');
      expect(r.retiredBy).toBe(byA.includes(r.location) ? 'a' : 'b');
    }
  });

  it('a reconcile with a stale view of the current route never retires the real current route (the org item wins)', async () => {
    // Prepare: v2 activated and settled; an overtaken caller still thinks v1 is current
    await onboard('prod', 1);
    await onboard('prod', 2);
    // Act
    const retired = await reconcileLocations(table, { orgId: ORG_ID, currentLocation: 'b.prod.1', reason: 'replaced', by: 'stale', now: clock });
    // Assess
    expect(retired).toEqual([]);
    expect(await states()).toEqual({ 'b.prod.1': 'retired', 'b.prod.2': 'serving' });
  });

  it('an Activate overtaken by a newer one converges: the older config ends retired, the newer serving', async () => {
    // Prepare: v1 serves; v2 and then v3 (staging) both write their activation before either settles its items
    await onboard('prod', 1);
    await verified('prod', 2);
    await activatePending(table, { orgId: ORG_ID, roleName: 'prod', executionArn: ctx('prod', 2).executionArn }, clock);
    await onboard('staging', 3);
    // Act: v2's step is retried (its first attempt died after the write)
    const retry = await activate(ctx('prod', 2), activateDeps());
    // Assess
    expect(retry).toMatchObject({ alreadyActive: true });
    expect(await states()).toEqual({ 'b.prod.1': 'retired', 'b.prod.2': 'retired', 'b.staging.3': 'serving' });
    expect(await item('b.prod.2')).toMatchObject({ replacedBy: 'b.staging.3' });
  });

  it('keeps every location item of an org under its own partition (no other org\'s item is touched)', async () => {
    const OTHER_ORG = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    await onboard('prod', 1);
    const foreign: LocationRecord = { ...(await item('b.prod.1'))!, pk: `ORG#${OTHER_ORG}`, orgId: OTHER_ORG };
    await table.ddb.send(new PutCommand({ TableName: table.tableName, Item: foreign }));
    await deactivate({ orgId: ORG_ID, requestedBy: CALLER }, deactivateDeps());
    expect(await getLocationRecord(documentClientReader(table.ddb), table.tableName, OTHER_ORG, 'b.prod.1')).toEqual(foreign);
  });
});
