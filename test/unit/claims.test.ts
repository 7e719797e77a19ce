import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, type DescribeExecutionCommandInput } from '@aws-sdk/client-sfn';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
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

  it('counts a serving config of the org as a live claim, and drops it once the org is deactivated', async () => {
    // Prepare: OTHER_ORG activated its backend on the bucket; its execution is over
    const holder = request(OTHER_ORG, 1);
    await acquireClaims(table, sfn(), holder, T0);
    await ensureBackend(table, { orgId: OTHER_ORG, roleName: 'prod', now: T0 });
    await writePendingConfig(table, {
      orgId: OTHER_ORG,
      roleName: 'prod',
      config: config({ executionArn: holder.executionArn, executionName: holder.executionName, status: 'VERIFIED' }),
      now: T0,
    });
    await activatePending(table, { orgId: OTHER_ORG, roleName: 'prod', executionArn: holder.executionArn }, T0);
    // Act / Assess: refused while it serves
    await expect(checkClaims(table, sfn(), request(ORG_ID, 1))).rejects.toThrow(ClaimedByAnotherOrgError);
    // ... and free once it no longer does; the stale claim is dropped by the next write
    await deactivateOrg(table, { orgId: OTHER_ORG, now: T0 });
    await acquireClaims(table, sfn(), request(ORG_ID, 1), T0);
    expect(Object.values(await claimsOf(bucketClaimPk('acme-firmware'))).map((c) => c.orgId)).toEqual([ORG_ID]);
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
