import { describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SUPPORT_ARN, httpApiEvent } from './helpers/http-api';
import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { deactivate, type DeactivateDeps } from '../../functions/deactivate/deactivate';
import { createHandler } from '../../functions/deactivate/handler';
import { getOrgRecord } from '#shared/records/read-sdk';
import { ensureBackend, writePendingConfig } from '#shared/records/pending-writes';
import { activatePending } from '#shared/records/lifecycle-writes';
import { TransientError, ValidationError } from '#shared/errors';
import { useRecordsTableAndEventBus } from './helpers/records-table';
import { ORG_ID, ROLE_NAME, T0, config, context } from './helpers/fixtures';

describe('Function: deactivate', () => {
  const { table, eventsMock } = useRecordsTableAndEventBus();
  const now = new Date(T0.getTime() + 86_400_000);
  const deps = (): DeactivateDeps => ({ store: table, events: new EventBridgeClient({ region: 'us-east-1' }), eventBusName: 'bus', clock: () => now });
  const read = async () => (await getOrgRecord(table.ddb, table.tableName, ORG_ID))!;


  async function activeBackend() {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ status: 'VERIFIED' }), now: T0 });
    await activatePending(table, { orgId: ORG_ID, roleName: ROLE_NAME, executionArn: context().executionArn }, T0);
  }

  it('removes the routing, keeps the serving config and warns that binaries stay in the bucket', async () => {
    // Prepare
    await activeBackend();
    // Act
    const result = await deactivate({ orgId: ORG_ID, confirm: true, requestedBy: 'support' }, deps());
    // Assess
    expect(result).toMatchObject({ orgId: ORG_ID, deactivated: true, previousActive: ROLE_NAME, deactivatedAt: now.toISOString() });
    expect(result.warning).toMatch(/s3:\/\/acme-firmware\/ stay there/);
    const record = await read();
    expect(record.active).toBeUndefined();
    expect(record.backends[ROLE_NAME]?.serving?.status).toBe('ACTIVE');
  });

  it('emits Backend Deactivated with the warning', async () => {
    await activeBackend();
    await deactivate({ orgId: ORG_ID }, deps());
    const entry = eventsMock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!;
    expect(entry.DetailType).toBe('Backend Deactivated');
    expect(JSON.parse(entry.Detail!)).toMatchObject({ orgId: ORG_ID, roleName: ROLE_NAME, bucket: 'acme-firmware' });
  });

  it('writes nothing and emits nothing when the org already uses default storage (ConditionalCheckFailed)', async () => {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    const before = (await read()).version;
    const result = await deactivate({ orgId: ORG_ID }, deps());
    expect(result).toMatchObject({ deactivated: false, previousActive: null });
    expect((await read()).version).toBe(before);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('fences a running onboarding and names it, even when the org is on default storage', async () => {
    // Prepare
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 1, status: 'VERIFYING', fenceEpoch: 0 }), now: T0 });
    // Act
    const result = await deactivate({ orgId: ORG_ID }, deps());
    // Assess
    expect(result).toMatchObject({ deactivated: false, previousActive: null });
    expect(result.fencedOnboardings).toEqual([
      { roleName: ROLE_NAME, executionName: context().executionName, executionArn: context().executionArn, status: 'VERIFYING' },
    ]);
    expect((await read()).fenceEpoch).toBe(1);
    expect(eventsMock).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it('refuses a bad org ID, naming the field', async () => {
    await expect(deactivate({ orgId: 'ACME' }, deps())).rejects.toThrow(ValidationError);
    await expect(deactivate({ orgId: ORG_ID, force: true }, deps())).rejects.toThrow(/force: is not a known field/);
  });

  it('turns DynamoDB throttling into TransientError', async () => {
    const store = { ddb: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), tableName: 't' };
    const ddbMock = mockClient(store.ddb);
    ddbMock.on(GetCommand).resolves({ Item: { pk: `ORG#${ORG_ID}`, sk: 'BACKENDS', orgId: ORG_ID, active: ROLE_NAME, version: 3, backends: {} } });
    ddbMock.on(UpdateCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow', $metadata: {} }));
    await expect(deactivate({ orgId: ORG_ID }, { ...deps(), store })).rejects.toThrow(TransientError);
    ddbMock.restore();
  });

  it('is reachable through the middy handler', async () => {
    await activeBackend();
    const handler = createHandler(deps());
    await expect(handler({ orgId: ORG_ID, confirm: true }, {} as never)).resolves.toMatchObject({ deactivated: true });
  });

  const auditBy = async () => {
    const items = await table.ddb.send(
      new QueryCommand({ TableName: table.tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :e)', ExpressionAttributeValues: { ':pk': `ORG#${ORG_ID}`, ':e': 'EVENT#deactivate' } }),
    );
    return items.Items!.map((i) => (i.detail as { requestedBy: string }).requestedBy);
  };

  it('records the caller API Gateway verified as who deactivated, on the audit item and the event', async () => {
    await activeBackend();
    const response = (await createHandler(deps())(httpApiEvent('POST /deactivations', { orgId: ORG_ID, confirm: true }), {} as never)) as {
      statusCode: number;
      body: string;
    };
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ deactivated: true });
    expect(await auditBy()).toEqual([SUPPORT_ARN]);
    const detail = JSON.parse(eventsMock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!.Detail!);
    expect(detail.requestedBy).toBe(SUPPORT_ARN);
  });

  it('refuses a deactivation whose API body names its own requestedBy, changing nothing', async () => {
    await activeBackend();
    const forged = httpApiEvent('POST /deactivations', { orgId: ORG_ID, confirm: true, requestedBy: 'arn:aws:iam::111111111111:user/boss' });
    const response = (await createHandler(deps())(forged, {} as never)) as { statusCode: number; body: string };
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ errorType: 'ValidationError', errorMessage: expect.stringMatching(/^requestedBy: /) });
    expect((await read()).active).toBe(ROLE_NAME);
    expect(eventsMock.commandCalls(PutEventsCommand)).toEqual([]);
  });

  it('records a direct invoke\'s requestedBy as claimed', async () => {
    await activeBackend();
    await createHandler(deps())({ orgId: ORG_ID, confirm: true, requestedBy: 'ops-script' }, {} as never);
    expect(await auditBy()).toEqual(['claimed:ops-script']);
  });
});
