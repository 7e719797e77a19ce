import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, type DescribeExecutionCommandInput } from '@aws-sdk/client-sfn';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  acquireClaims,
  bucketClaimPk,
  checkClaims,
  normalisedRoleArn,
  prefixesOverlap,
  releaseClaims,
  roleClaimPk,
  type ClaimRequest,
} from '#shared/claims';
import { ensureBackend, writePendingConfig } from '#shared/records/pending-writes';
import { activatePending, deactivateOrg } from '#shared/records/lifecycle-writes';
import { getOrgRecord } from '#shared/records/read-sdk';
import { locationFor, locationSk } from '#shared/records/location-read';
import { materializeLocations, reconcileLocations } from '#shared/records/locations';
import { ClaimedByAnotherOrgError } from '#shared/errors';
import { startRecordsTable, type RecordsTable } from './helpers/records-table';
import { CUSTOMER_ROLE_ARN, ORG_ID, T0, config, executionArnFor } from './helpers/fixtures';

const OTHER_ORG = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';

function request(orgId: string, version: number, overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  const name = `${orgId}-prod-${version}`;
  return {
    orgId,
    roleName: 'prod',
    configVersion: version,
    executionArn: executionArnFor(name),
    executionName: name,
    roleArn: CUSTOMER_ROLE_ARN,
    bucket: 'acme-firmware',
    prefix: 'firmware/',
    ...overrides,
  };
}

describe('Function: prefixesOverlap / normalisedRoleArn', () => {
  it('treats a prefix inside another, and no prefix (the whole bucket), as overlapping', () => {
    expect(prefixesOverlap('a/', 'a/b/')).toBe(true);
    expect(prefixesOverlap('a/b/', 'a/')).toBe(true);
    expect(prefixesOverlap('', 'a/')).toBe(true);
    expect(prefixesOverlap('a/', 'b/')).toBe(false);
    expect(prefixesOverlap('a', 'ab/')).toBe(true);
  });

  it('keys a role by account and name ignoring case and path', () => {
    expect(normalisedRoleArn('arn:aws:iam::222222222222:role/team/PeridioBinaries')).toBe('arn:aws:iam::222222222222:role/peridiobinaries');
    expect(roleClaimPk('arn:aws:iam::222222222222:role/PERIDIOBINARIES')).toBe(roleClaimPk(CUSTOMER_ROLE_ARN));
  });
});

describe('Module: claims (dynalite)', () => {
  const sfnMock = mockClient(SFNClient);
  let table: RecordsTable;
  let running: Set<string>;
  const sfn = () => new SFNClient({ region: 'us-east-1' });
  const claimsOf = async (pk: string) =>
    ((await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk, sk: 'CLAIM' } }))).Item?.claims ?? {}) as Record<string, { orgId: string }>;

  beforeAll(async () => {
    table = await startRecordsTable();
  });
  afterAll(async () => {
    sfnMock.restore();
    await table.stop();
  });
  beforeEach(async () => {
    sfnMock.reset();
    running = new Set();
    sfnMock.on(DescribeExecutionCommand).callsFake((i: DescribeExecutionCommandInput) => {
      if (!running.has(i.executionArn!)) throw new ExecutionDoesNotExist({ message: 'gone', $metadata: {} });
      return { status: 'RUNNING', executionArn: i.executionArn };
    });
    await table.clear();
  });

  it('refuses another org the same customer role while the holder is running, whatever the bucket', async () => {
    // Prepare
    const holder = request(OTHER_ORG, 1);
    running.add(holder.executionArn);
    await acquireClaims(table, sfn(), holder, T0);
    // Act / Assess
    const mine = request(ORG_ID, 1, { bucket: 'another-bucket', roleArn: 'arn:aws:iam::222222222222:role/peridiobinaries' });
    await expect(acquireClaims(table, sfn(), mine, T0)).rejects.toThrow(ClaimedByAnotherOrgError);
    await expect(acquireClaims(table, sfn(), mine, T0)).rejects.toThrow(/customer role .* another org/);
    expect(Object.keys(await claimsOf(bucketClaimPk('another-bucket')))).toEqual([]);
  });

  it('refuses an overlapping prefix of the same bucket, and the whole bucket, but not a disjoint prefix', async () => {
    const holder = request(OTHER_ORG, 1, { prefix: 'a/' });
    running.add(holder.executionArn);
    await acquireClaims(table, sfn(), holder, T0);
    const role = { roleArn: 'arn:aws:iam::222222222222:role/Mine' };
    await expect(acquireClaims(table, sfn(), request(ORG_ID, 1, { ...role, prefix: 'a/b/' }), T0)).rejects.toThrow(/s3:\/\/acme-firmware\/a\/b\//);
    await expect(acquireClaims(table, sfn(), request(ORG_ID, 2, { ...role, prefix: undefined }), T0)).rejects.toThrow(/whole bucket/);
    await expect(acquireClaims(table, sfn(), request(ORG_ID, 3, { ...role, prefix: 'b/' }), T0)).resolves.toBeUndefined();
    // The refused attempts released their role claim again
    expect(Object.keys(await claimsOf(roleClaimPk(role.roleArn)))).toEqual([request(ORG_ID, 3).executionName]);
  });

  it('lets the same org re-onboard its own role and bucket', async () => {
    const first = request(ORG_ID, 1);
    running.add(first.executionArn);
    await acquireClaims(table, sfn(), first, T0);
    await expect(acquireClaims(table, sfn(), request(ORG_ID, 2, { prefix: '' }), T0)).resolves.toBeUndefined();
    await expect(checkClaims(table, sfn(), request(ORG_ID, 3))).resolves.toBeUndefined();
  });

  /** OTHER_ORG's backend `prod` serves config `version` (claimed by `holder`), its execution over. */
  async function serveOtherOrg(holder: ClaimRequest, upload: { bucket: string; roleArn: string; prefix?: string }) {
    await acquireClaims(table, sfn(), holder, T0);
    await ensureBackend(table, { orgId: OTHER_ORG, roleName: 'prod', now: T0 });
    await writePendingConfig(table, {
      orgId: OTHER_ORG,
      roleName: 'prod',
      config: config({
        configVersion: holder.configVersion,
        executionArn: holder.executionArn,
        executionName: holder.executionName,
        status: 'VERIFIED',
        upload: { ...config().upload, ...upload },
      }),
      now: T0,
    });
    await activatePending(table, { orgId: OTHER_ORG, roleName: 'prod', executionArn: holder.executionArn }, T0);
  }

  /** The location item's state, set as Offboard does (retired -> offboarded). */
  async function setLocationState(orgId: string, version: number, state: string) {
    await table.ddb.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk: `ORG#${orgId}`, sk: locationSk(locationFor('prod', version)) },
        UpdateExpression: 'SET #state = :s',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':s': state },
      }),
    );
  }

  it('counts a serving config of the org as a live claim, and keeps it live after a deactivation until it is offboarded', async () => {
    // Prepare: OTHER_ORG activated its backend on the bucket; its execution is over
    const holder = request(OTHER_ORG, 1);
    await serveOtherOrg(holder, { bucket: 'acme-firmware', roleArn: CUSTOMER_ROLE_ARN, prefix: 'firmware/' });
    // Act / Assess: refused while it serves
    await expect(checkClaims(table, sfn(), request(ORG_ID, 1))).rejects.toThrow(ClaimedByAnotherOrgError);
    // Deactivated (a record without location items: the org item still holds the config as serving) = retired,
    // still connected: refused
    await deactivateOrg(table, { orgId: OTHER_ORG, now: T0 });
    await expect(checkClaims(table, sfn(), request(ORG_ID, 1))).rejects.toThrow(ClaimedByAnotherOrgError);
    // ... materialised as a retired location item: still refused
    expect(await materializeLocations(table, await getOrgRecord(table.ddb, table.tableName, OTHER_ORG), T0)).toEqual(['b.prod.1']);
    await expect(acquireClaims(table, sfn(), request(ORG_ID, 1), T0)).rejects.toThrow(ClaimedByAnotherOrgError);
    expect(sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
    // ... and free once offboarded (even if its claim was never released); the stale claim is dropped by the next write
    await setLocationState(OTHER_ORG, 1, 'offboarded');
    await acquireClaims(table, sfn(), request(ORG_ID, 1), T0);
    expect(Object.values(await claimsOf(bucketClaimPk('acme-firmware'))).map((c) => c.orgId)).toEqual([ORG_ID]);
    expect(Object.values(await claimsOf(roleClaimPk(CUSTOMER_ROLE_ARN))).map((c) => c.orgId)).toEqual([ORG_ID]);
  });

  it("refuses another org a retired config's bucket + prefix and customer role until it is offboarded; the same org may reuse them", async () => {
    // Prepare: OTHER_ORG served v1 on acme-firmware/firmware/ with CUSTOMER_ROLE_ARN, then re-onboarded to v2
    // (another bucket and role): v1's location item is retired, and Activate kept v1's claims.
    const v1 = request(OTHER_ORG, 1);
    await serveOtherOrg(v1, { bucket: 'acme-firmware', roleArn: CUSTOMER_ROLE_ARN, prefix: 'firmware/' });
    await materializeLocations(table, await getOrgRecord(table.ddb, table.tableName, OTHER_ORG), T0);
    const v2 = request(OTHER_ORG, 2, { bucket: 'other-bucket', roleArn: 'arn:aws:iam::333333333333:role/Newer' });
    await serveOtherOrg(v2, { bucket: 'other-bucket', roleArn: v2.roleArn });
    await reconcileLocations(table, { orgId: OTHER_ORG, currentLocation: 'b.prod.2', reason: 'replaced', by: 'support', now: T0 });
    // Act / Assess: ORG_ID may take neither the bucket + prefix (whatever its role) nor the role (whatever its bucket)
    const ownRole = { roleArn: 'arn:aws:iam::444444444444:role/Mine' };
    await expect(acquireClaims(table, sfn(), request(ORG_ID, 1, { ...ownRole, prefix: 'firmware/beta/' }), T0)).rejects.toThrow(
      /s3:\/\/acme-firmware\/firmware\/beta\/ is still connected to another org/,
    );
    await expect(checkClaims(table, sfn(), request(ORG_ID, 2, { ...ownRole, prefix: '' }))).rejects.toThrow(ClaimedByAnotherOrgError);
    await expect(acquireClaims(table, sfn(), request(ORG_ID, 3, { bucket: 'mine' }), T0)).rejects.toThrow(/customer role .* still connected to another org/);
    expect(sfnMock.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
    expect(Object.values(await claimsOf(bucketClaimPk('acme-firmware'))).map((c) => c.orgId)).toEqual([OTHER_ORG]);
    // The same org re-onboarding to the retired config's bucket and role: fine
    await expect(acquireClaims(table, sfn(), request(OTHER_ORG, 3), T0)).resolves.toBeUndefined();
    // Offboarded: free for ORG_ID
    await setLocationState(OTHER_ORG, 1, 'offboarded');
    await releaseClaims(table, { roleArn: request(OTHER_ORG, 3).roleArn, bucket: 'acme-firmware', executionName: request(OTHER_ORG, 3).executionName });
    await expect(acquireClaims(table, sfn(), request(ORG_ID, 4, { prefix: 'firmware/beta/' }), T0)).resolves.toBeUndefined();
    expect(Object.keys(await claimsOf(bucketClaimPk('acme-firmware')))).toEqual([request(ORG_ID, 4).executionName]);
  });

  it('counts an offboarded location item as disconnected although the org item still holds its config; a RUNNING execution still counts', async () => {
    const holder = request(OTHER_ORG, 1);
    await serveOtherOrg(holder, { bucket: 'acme-firmware', roleArn: CUSTOMER_ROLE_ARN, prefix: 'firmware/' });
    await materializeLocations(table, await getOrgRecord(table.ddb, table.tableName, OTHER_ORG), T0);
    await deactivateOrg(table, { orgId: OTHER_ORG, now: T0 });
    // The org item still holds v1 as serving, but its item says offboarded: the item wins
    await setLocationState(OTHER_ORG, 1, 'offboarded');
    await expect(checkClaims(table, sfn(), request(ORG_ID, 1))).resolves.toBeUndefined();
    // A RUNNING execution still counts
    running.add(holder.executionArn);
    await expect(checkClaims(table, sfn(), request(ORG_ID, 1))).rejects.toThrow(ClaimedByAnotherOrgError);
  });

  it('ignores the claim of an execution that stopped without serving (aborted outside any Catch)', async () => {
    await acquireClaims(table, sfn(), request(OTHER_ORG, 1), T0);
    await expect(acquireClaims(table, sfn(), request(ORG_ID, 1), T0)).resolves.toBeUndefined();
  });

  it('releases only the given execution\'s claims, idempotently', async () => {
    const mine = request(ORG_ID, 1);
    await acquireClaims(table, sfn(), mine, T0);
    await acquireClaims(table, sfn(), request(ORG_ID, 2, { prefix: 'other/' }), T0);
    await releaseClaims(table, { roleArn: mine.roleArn, bucket: mine.bucket, executionName: mine.executionName });
    await releaseClaims(table, { roleArn: mine.roleArn, bucket: mine.bucket, executionName: mine.executionName });
    expect(Object.keys(await claimsOf(bucketClaimPk('acme-firmware')))).toEqual([request(ORG_ID, 2).executionName]);
  });

  it('lets only one of two orgs racing for the same bucket win', async () => {
    const a = request(ORG_ID, 1, { roleArn: 'arn:aws:iam::222222222222:role/A' });
    const b = request(OTHER_ORG, 1, { roleArn: 'arn:aws:iam::333333333333:role/B' });
    running.add(a.executionArn).add(b.executionArn);
    const results = await Promise.allSettled([acquireClaims(table, sfn(), a, T0), acquireClaims(table, sfn(), b, T0)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ClaimedByAnotherOrgError);
    expect(Object.keys(await claimsOf(bucketClaimPk('acme-firmware')))).toHaveLength(1);
  });
});
