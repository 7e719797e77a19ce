import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CreateRoleCommand,
  DeleteRoleCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  IAMClient,
  IAMServiceException,
  ListRoleTagsCommand,
  NoSuchEntityException,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
  type GetRoleCommandOutput,
} from '@aws-sdk/client-iam';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { createPlatformRole, type CreatePlatformRoleDeps } from '../../functions/onboarding/create-platform-role/create-platform-role';
import { allowedCustomerRoleArns, customerTrustPolicy } from '#shared/platform-role';
import { createHandler } from '../../functions/onboarding/create-platform-role/handler';
import { getOrgRecord } from '#shared/records/read-sdk';
import { ensureBackend, writePendingConfig } from '#shared/records/pending-writes';
import { activatePending } from '#shared/records/lifecycle-writes';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { putServingLocation, reconcileLocations } from '#shared/records/locations';
import { PlatformRoleConflictError, StaleExecutionError, TransientError, ValidationError } from '#shared/errors';
import { useRecordsTableAndEventBus } from './helpers/records-table';
import { CUSTOMER_ROLE_ARN, ORG_ID, PLATFORM_ROLE_ARN, ROLE_NAME, T0, config, context } from './helpers/fixtures';

const ROLE = `binary_backend_${ORG_ID}_${ROLE_NAME}`;
const PATTERN = 'arn:aws:iam::111111111111:role/binary-backends-local-*';
const BOUNDARY = 'arn:aws:iam::111111111111:policy/binary-backends-boundary';
const OUR_TAGS = [
  { Key: 'peridio:service', Value: 'binary-backends' },
  { Key: 'peridio:org-id', Value: ORG_ID },
  { Key: 'peridio:backend', Value: ROLE_NAME },
  { Key: 'peridio:stage', Value: 'local' },
];

describe('Function: createPlatformRole', () => {
  const iamMock = mockClient(IAMClient);
  afterAll(() => iamMock.restore());
  const { table, eventsMock } = useRecordsTableAndEventBus();
  let sleeps: number[];

  const deps = (): CreatePlatformRoleDeps => ({
    iam: new IAMClient({ region: 'us-east-1' }),
    events: new EventBridgeClient({ region: 'us-east-1' }),
    store: table,
    clock: () => T0,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    config: {
      platformAccountId: '111111111111',
      trustedPrincipalPattern: PATTERN,
      permissionsBoundaryArn: BOUNDARY,
      propagationDelaySeconds: 10,
      stage: 'local',
      eventBusName: 'bus',
    },
  });

  const role = (createdSecondsBefore = 0, tags = OUR_TAGS): Partial<GetRoleCommandOutput> => ({
    Role: {
      RoleName: ROLE,
      Arn: PLATFORM_ROLE_ARN,
      Path: '/',
      RoleId: 'AROAEXAMPLE',
      CreateDate: new Date(T0.getTime() - createdSecondsBefore * 1000),
      Tags: tags,
      PermissionsBoundary: { PermissionsBoundaryArn: BOUNDARY, PermissionsBoundaryType: 'PermissionsBoundaryPolicy' },
    },
  });

  beforeEach(async () => {
    iamMock.reset();
    sleeps = [];
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config(), now: T0 });
  });

  const read = async () => (await getOrgRecord(table.ddb, table.tableName, ORG_ID))!;

  it('creates the role with our trust, boundary and tags, and allows only AssumeRole on the customer role', async () => {
    // Prepare
    iamMock.on(CreateRoleCommand).resolves({});
    iamMock.on(PutRolePolicyCommand).resolves({});
    iamMock.on(GetRoleCommand).resolves(role());
    // Act
    const result = await createPlatformRole(context(), deps());
    // Assess
    expect(result).toEqual({ roleArn: PLATFORM_ROLE_ARN, trustPolicyReadyAt: T0.toISOString() });
    const create = iamMock.commandCalls(CreateRoleCommand)[0]!.args[0].input;
    expect(create.RoleName).toBe(ROLE);
    expect(create.PermissionsBoundary).toBe(BOUNDARY);
    expect(create.Tags).toEqual(OUR_TAGS);
    expect(JSON.parse(create.AssumeRolePolicyDocument!)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::111111111111:root' },
          Action: 'sts:AssumeRole',
          Condition: { ArnLike: { 'aws:PrincipalArn': PATTERN } },
        },
      ],
    });
    const inline = iamMock.commandCalls(PutRolePolicyCommand)[0]!.args[0].input;
    expect(JSON.parse(inline.PolicyDocument!)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: CUSTOMER_ROLE_ARN }],
    });
  });

  it('tags a backend name with a comma (valid in IAM role names, refused in tag values) as its one-to-one encoding', async () => {
    // Prepare: "a,b" is a valid backend and role name; IAM refuses "," in a tag value
    const name = 'a,b';
    await ensureBackend(table, { orgId: ORG_ID, roleName: name, now: T0 });
    const ctx = context({ roleName: name });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: name, config: config({ executionName: ctx.executionName }), now: T0 });
    iamMock.on(CreateRoleCommand).resolves({});
    iamMock.on(PutRolePolicyCommand).resolves({});
    iamMock.on(GetRoleCommand).resolves(role());
    // Act
    await createPlatformRole(ctx, deps());
    // Assess
    const create = iamMock.commandCalls(CreateRoleCommand)[0]!.args[0].input;
    expect(create.RoleName).toBe(`binary_backend_${ORG_ID}_a,b`);
    expect(create.Tags).toContainEqual({ Key: 'peridio:backend', Value: 'a:b' });
    for (const tag of create.Tags!) expect(tag.Value).toMatch(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u);
  });

  it('refuses a tag IAM would refuse (a stage with a comma) with a ValidationError, creating nothing', async () => {
    iamMock.on(CreateRoleCommand).resolves({});
    const bad = { ...deps(), config: { ...deps().config, stage: 'dev,eu' } };
    const err = await createPlatformRole(context(), bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(/IAM tag value/);
    expect(iamMock).toHaveReceivedCommandTimes(CreateRoleCommand, 0);
  });

  it('stores the trust policy in exactly the seed\'s shape and sets AWAITING_TRUST', async () => {
    iamMock.on(CreateRoleCommand).resolves({});
    iamMock.on(PutRolePolicyCommand).resolves({});
    iamMock.on(GetRoleCommand).resolves(role());
    await createPlatformRole(context(), deps());
    const backend = (await read()).backends[ROLE_NAME]!;
    expect(JSON.parse(backend.trustPolicy!)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: PLATFORM_ROLE_ARN },
          Action: 'sts:AssumeRole',
          Condition: { StringEquals: { 'sts:ExternalId': ORG_ID } },
        },
      ],
    });
    expect(backend.trustPolicyInstructions).toMatch(/Invalid principal in policy.*wait a minute/);
    // The customer's role may already trust other principals: the instructions say to add, never to replace.
    expect(backend.trustPolicyInstructions).toMatch(/^Add this statement to the trust policy of the IAM role /);
    expect(backend.trustPolicyInstructions).toMatch(/keep the statements already there/);
    expect(backend.trustPolicyInstructions).not.toMatch(/replac/i);
    expect(backend.pending?.status).toBe('AWAITING_TRUST');
    expect(backend.platformRoleArn).toBe(PLATFORM_ROLE_ARN);
  });

  it('emits Trust Policy Ready with the policy object and instructions', async () => {
    iamMock.on(CreateRoleCommand).resolves({});
    iamMock.on(PutRolePolicyCommand).resolves({});
    iamMock.on(GetRoleCommand).resolves(role());
    await createPlatformRole(context(), deps());
    const entry = eventsMock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!;
    expect(entry.DetailType).toBe('Trust Policy Ready');
    expect(JSON.parse(entry.Detail!)).toMatchObject({
      orgId: ORG_ID,
      roleName: ROLE_NAME,
      platformRoleArn: PLATFORM_ROLE_ARN,
      trustPolicy: customerTrustPolicy(PLATFORM_ROLE_ARN, ORG_ID),
    });
  });

  it('polls GetRole with the injected sleep until the new role is readable, then waits the propagation delay', async () => {
    iamMock.on(CreateRoleCommand).resolves({});
    iamMock.on(PutRolePolicyCommand).resolves({});
    iamMock
      .on(GetRoleCommand)
      .rejectsOnce(new NoSuchEntityException({ message: 'no', $metadata: {} }))
      .rejectsOnce(new NoSuchEntityException({ message: 'no', $metadata: {} }))
      .resolves(role(0));
    await createPlatformRole(context(), deps());
    expect(iamMock).toHaveReceivedCommandTimes(GetRoleCommand, 3);
    expect(sleeps).toEqual([1000, 1000, 10_000]);
  });

  it('gives up with TransientError when the role never becomes readable', async () => {
    iamMock.on(CreateRoleCommand).resolves({});
    iamMock.on(PutRolePolicyCommand).resolves({});
    iamMock.on(GetRoleCommand).rejects(new NoSuchEntityException({ message: 'no', $metadata: {} }));
    await expect(createPlatformRole(context(), { ...deps(), roleReadableAttempts: 3 })).rejects.toThrow(TransientError);
    expect((await read()).backends[ROLE_NAME]?.trustPolicy).toBeUndefined();
  });

  it('adopts an existing role whose tags are ours, without deleting it or waiting again', async () => {
    iamMock.on(CreateRoleCommand).rejects(new EntityAlreadyExistsException({ message: 'exists', $metadata: {} }));
    iamMock.on(GetRoleCommand).resolves(role(3600));
    await createPlatformRole(context(), deps());
    expect(iamMock).toHaveReceivedCommandWith(UpdateAssumeRolePolicyCommand, { RoleName: ROLE });
    expect(iamMock).not.toHaveReceivedCommand(DeleteRoleCommand);
    expect(sleeps).toEqual([]);
  });

  it('reads the tags with ListRoleTags when GetRole does not return them', async () => {
    iamMock.on(CreateRoleCommand).rejects(new EntityAlreadyExistsException({ message: 'exists', $metadata: {} }));
    iamMock.on(GetRoleCommand).resolves(role(3600, []));
    iamMock.on(ListRoleTagsCommand).resolves({ Tags: OUR_TAGS });
    await expect(createPlatformRole(context(), deps())).resolves.toMatchObject({ roleArn: PLATFORM_ROLE_ARN });
  });

  it('refuses a role with our name but someone else\'s tags, and never replaces it', async () => {
    iamMock.on(CreateRoleCommand).rejects(new EntityAlreadyExistsException({ message: 'exists', $metadata: {} }));
    iamMock.on(GetRoleCommand).resolves(role(3600, [{ Key: 'owner', Value: 'someone-else' }]));
    await expect(createPlatformRole(context(), deps())).rejects.toThrow(PlatformRoleConflictError);
    expect(iamMock).not.toHaveReceivedCommand(DeleteRoleCommand);
    expect(iamMock).not.toHaveReceivedCommand(PutRolePolicyCommand);
  });

  it('refuses a role tagged for another stage', async () => {
    iamMock.on(CreateRoleCommand).rejects(new EntityAlreadyExistsException({ message: 'exists', $metadata: {} }));
    iamMock.on(GetRoleCommand).resolves(role(3600, OUR_TAGS.map((t) => (t.Key === 'peridio:stage' ? { ...t, Value: 'prod' } : t))));
    await expect(createPlatformRole(context(), deps())).rejects.toThrow(/peridio:stage=local/);
  });

  it('refuses a role of ours whose permissions boundary is not this stage\'s, without touching it', async () => {
    iamMock.on(CreateRoleCommand).rejects(new EntityAlreadyExistsException({ message: 'exists', $metadata: {} }));
    iamMock.on(GetRoleCommand).resolves({ Role: { ...role(3600).Role!, PermissionsBoundary: undefined } });
    await expect(createPlatformRole(context(), deps())).rejects.toThrow(/permissions boundary \(none\)/);
    expect(iamMock).not.toHaveReceivedCommand(UpdateAssumeRolePolicyCommand);
    expect(iamMock).not.toHaveReceivedCommand(PutRolePolicyCommand);
  });

  it('allows both the serving and the pending customer role during a re-onboarding', async () => {
    // Prepare: v1 active with another customer role, v2 pending with CUSTOMER_ROLE_ARN
    const oldArn = 'arn:aws:iam::222222222222:role/OldPeridioRole';
    await table.clear();
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    const v1 = config({ configVersion: 1, status: 'VERIFIED', upload: { ...config().upload, roleArn: oldArn } });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: v1, now: T0 });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: v1.executionArn }, T0);
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2 }), now: T0 });
    iamMock.on(CreateRoleCommand).rejects(new EntityAlreadyExistsException({ message: 'exists', $metadata: {} }));
    iamMock.on(GetRoleCommand).resolves(role(3600));
    // Act
    await createPlatformRole(context({ configVersion: 2 }), deps());
    // Assess
    const inline = JSON.parse(iamMock.commandCalls(PutRolePolicyCommand)[0]!.args[0].input.PolicyDocument!);
    expect(inline.Statement[0].Resource).toEqual([CUSTOMER_ROLE_ARN, oldArn].sort());
    expect((await read()).active).toBe(ROLE_NAME);
  });

  // Issue 11: "A re-onboarding of the same backend name with another customer role keeps the older customer
  // role assumable by the platform role until that config is offboarded."
  it('keeps the customer role of every config of the backend that is not offboarded, and only of this backend', async () => {
    // Prepare: v1 (OLD) served, v2 (MID) replaced it, v3 (CUSTOMER_ROLE_ARN) is pending; another backend's item
    const oldArn = 'arn:aws:iam::222222222222:role/OldPeridioRole';
    const midArn = 'arn:aws:iam::222222222222:role/MidPeridioRole';
    const otherArn = 'arn:aws:iam::333333333333:role/OtherBackend';
    await table.clear();
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    for (const [version, roleArn] of [[1, oldArn], [2, midArn]] as const) {
      const c = config({ configVersion: version, status: 'VERIFIED', upload: { ...config().upload, roleArn } });
      await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: c, now: T0 });
      await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: c.executionArn }, T0);
      await putServingLocation(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: (await read()).backends[ROLE_NAME]!.serving!, platformRoleArn: PLATFORM_ROLE_ARN, now: T0 });
      await reconcileLocations(table, { orgId: ORG_ID, currentLocation: `b.${ROLE_NAME}.${version}`, reason: 'replaced', by: 'support', now: T0 });
    }
    const other = config({ configVersion: 7, upload: { ...config().upload, roleArn: otherArn }, activatedAt: T0.toISOString() });
    await putServingLocation(table, { orgId: ORG_ID, roleName: 'other', config: other, platformRoleArn: 'arn:aws:iam::111111111111:role/x', now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 3 }), now: T0 });
    iamMock.on(CreateRoleCommand).rejects(new EntityAlreadyExistsException({ message: 'exists', $metadata: {} }));
    iamMock.on(GetRoleCommand).resolves(role(3600));
    // Act
    await createPlatformRole(context({ configVersion: 3 }), deps());
    // Assess: retired v1 still assumable (binaries there stay downloadable)
    const allowed = (i: number) => [JSON.parse(iamMock.commandCalls(PutRolePolicyCommand)[i]!.args[0].input.PolicyDocument!).Statement[0].Resource].flat();
    expect(allowed(0)).toEqual([CUSTOMER_ROLE_ARN, midArn, oldArn].sort());
    // Act: v1 is offboarded (the offboard function's write), then the step runs again
    await table.ddb.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: `ORG#${ORG_ID}`, sk: `LOCATION#b.${ROLE_NAME}.1` },
        UpdateExpression: 'SET #s = :o',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':o': 'offboarded' },
      }),
    );
    iamMock.resetHistory();
    await createPlatformRole(context({ configVersion: 3 }), deps());
    // Assess
    expect(allowed(0)).toEqual([CUSTOMER_ROLE_ARN, midArn].sort());
  });

  it('allowedCustomerRoleArns: a serving config whose item was offboarded (org deactivated, then offboarded) is not allowed', () => {
    const serving = config({ configVersion: 1, status: 'ACTIVE', location: `b.${ROLE_NAME}.1` });
    const backend = { roleName: ROLE_NAME, lastConfigVersion: 1, serving };
    const item = (state: 'retired' | 'offboarded') => ({
      pk: `ORG#${ORG_ID}`, sk: `LOCATION#b.${ROLE_NAME}.1`, orgId: ORG_ID, location: `b.${ROLE_NAME}.1`, roleName: ROLE_NAME, configVersion: 1, state,
      executionName: serving.executionName, requestedBy: 'support', platformRoleArn: PLATFORM_ROLE_ARN, upload: serving.upload, download: serving.download,
      activatedAt: T0.toISOString(), createdAt: T0.toISOString(), updatedAt: T0.toISOString(),
    });
    expect(allowedCustomerRoleArns(backend, [item('retired')])).toEqual([CUSTOMER_ROLE_ARN]);
    expect(allowedCustomerRoleArns(backend, [item('offboarded')])).toEqual([]);
    // A record from before locations (no item yet): the serving config is still allowed.
    expect(allowedCustomerRoleArns(backend, [])).toEqual([CUSTOMER_ROLE_ARN]);
  });

  it('retries (TransientError) when PutRolePolicy does not see the new role yet', async () => {
    iamMock.on(CreateRoleCommand).resolves({});
    iamMock.on(PutRolePolicyCommand).rejects(new NoSuchEntityException({ message: 'no', $metadata: {} }));
    await expect(createPlatformRole(context(), deps())).rejects.toThrow(TransientError);
  });

  it('turns IAM throttling into TransientError', async () => {
    iamMock.on(CreateRoleCommand).rejects(new IAMServiceException({ name: 'Throttling', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }));
    await expect(createPlatformRole(context(), deps())).rejects.toThrow(TransientError);
  });

  it('throws StaleExecutionError when a newer execution took the backend over', async () => {
    iamMock.on(CreateRoleCommand).resolves({});
    iamMock.on(PutRolePolicyCommand).resolves({});
    iamMock.on(GetRoleCommand).resolves(role());
    await expect(createPlatformRole(context({ configVersion: 7 }), deps())).rejects.toThrow(StaleExecutionError);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('never writes the inline policy for a stale execution, so it cannot widen it', async () => {
    // Prepare: v7 owns the pending config; a stale v6 (aborted, its Lambda still running) asks with another role
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 7, status: 'AWAITING_TRUST' }), now: T0 });
    iamMock.on(CreateRoleCommand).resolves({});
    iamMock.on(GetRoleCommand).resolves(role());
    const stale = context({ configVersion: 6, upload: { ...context().upload, roleArn: 'arn:aws:iam::333333333333:role/Attacker' } });
    // Act / Assess
    await expect(createPlatformRole(stale, deps())).rejects.toThrow(StaleExecutionError);
    expect(iamMock).not.toHaveReceivedCommand(PutRolePolicyCommand);
  });

  it('rewrites the policy from the record when it loses the backend while writing, then stops as stale', async () => {
    // Prepare: while our PutRolePolicy is in flight, our config is marked ABANDONED and a newer one (another role) takes over
    const newerArn = 'arn:aws:iam::222222222222:role/NewerRole';
    iamMock.on(CreateRoleCommand).resolves({});
    iamMock.on(GetRoleCommand).resolves(role());
    let first = true;
    iamMock.on(PutRolePolicyCommand).callsFake(async () => {
      if (first) {
        first = false;
        await writePendingConfig(table, {
          orgId: ORG_ID,
          roleName: ROLE_NAME,
          config: config({ configVersion: 1, status: 'ABANDONED' }),
          now: T0,
        });
        await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2, upload: { ...config().upload, roleArn: newerArn } }), now: T0 });
      }
      return {};
    });
    // Act / Assess
    await expect(createPlatformRole(context(), deps())).rejects.toThrow(StaleExecutionError);
    const written = iamMock.commandCalls(PutRolePolicyCommand).map((c) => JSON.parse(c.args[0].input.PolicyDocument!).Statement[0].Resource);
    expect(written).toEqual([CUSTOMER_ROLE_ARN, newerArn]);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('refuses a malformed state input through the handler', async () => {
    const handler = createHandler(deps());
    await expect(handler({ orgId: ORG_ID }, {} as never)).rejects.toThrow(ValidationError);
    expect(iamMock).not.toHaveReceivedCommand(CreateRoleCommand);
  });
});
