import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import type { CheckResult, ExecutionRef } from '#shared/records/model';
import { getOrgRecord } from '#shared/records/read-sdk';
import { writeAuditEvent } from '#shared/records/audit';
import { parseStepInput } from '#shared/records/workflow-context';
import { allocateConfigVersion, ensureBackend, markAbandoned, recordChecks, recordFailure, recordTrustAttempt, setPendingStatus, storeTrustPolicy, writePendingConfig } from '#shared/records/pending-writes';
import { activatePending, deactivateOrg } from '#shared/records/lifecycle-writes';
import { RoleNameConflictError, StaleExecutionError, TransientError, ValidationError } from '#shared/errors';
import { startRecordsTable, type RecordsTable } from './helpers/records-table';
import { ORG_ID, ROLE_NAME, T0, config, context, executionArnFor, nameFor } from './helpers/fixtures';

const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const refFor = (version: number): ExecutionRef => ({ orgId: ORG_ID, roleName: ROLE_NAME, executionArn: executionArnFor(nameFor(version)) });
const check = (name: string, result: CheckResult['result']): CheckResult => ({ name, result, message: `${name} ${result}`, at: T0.toISOString() });

describe('Module: backend-records (dynalite)', () => {
  let table: RecordsTable;
  beforeAll(async () => {
    table = await startRecordsTable();
  });
  afterAll(async () => {
    await table.stop();
  });
  beforeEach(async () => {
    await table.clear();
  });

  async function read() {
    const r = await getOrgRecord(table.ddb, table.tableName, ORG_ID);
    if (!r) throw new Error('no record');
    return r;
  }

  async function withPending(version = 1, overrides = {}) {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    const ok = await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: version, ...overrides }), now: T0 });
    expect(ok).toBe(true);
  }

  describe('ensureBackend', () => {
    it('creates the org item, the backends map and the backend entry on first use', async () => {
      // Act
      const record = await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
      // Assess
      expect(record.backends[ROLE_NAME]).toEqual({ roleName: ROLE_NAME, lastConfigVersion: 0 });
      expect(record.roleNames).toEqual({ prod: 'prod' });
      expect(record.orgId).toBe(ORG_ID);
      expect(record.active).toBeUndefined();
    });

    it('is idempotent and keeps what an existing backend already holds', async () => {
      // Prepare
      await withPending(1);
      // Act
      await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
      // Assess
      expect((await read()).backends[ROLE_NAME]?.pending?.configVersion).toBe(1);
    });

    it('adds a second backend beside the first', async () => {
      await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
      const record = await ensureBackend(table, { orgId: ORG_ID, roleName: 'staging', now: T0 });
      expect(Object.keys(record.backends).sort()).toEqual(['prod', 'staging']);
    });

    it('refuses a role name that differs only in letter case', async () => {
      await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
      await expect(ensureBackend(table, { orgId: ORG_ID, roleName: 'Prod', now: T0 })).rejects.toThrow(RoleNameConflictError);
      expect(Object.keys((await read()).backends)).toEqual(['prod']);
    });

    it('refuses the case-variant even when two starters race to create them', async () => {
      const results = await Promise.allSettled([
        ensureBackend(table, { orgId: ORG_ID, roleName: 'prod', now: T0 }),
        ensureBackend(table, { orgId: ORG_ID, roleName: 'PROD', now: T0 }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(Object.keys((await read()).backends)).toHaveLength(1);
    });
  });

  describe('allocateConfigVersion', () => {
    const claimFor = (v: number) => ({
      executionName: nameFor(v),
      executionArn: executionArnFor(nameFor(v)),
      requestHash: 'h',
      requestedBy: 'support',
      configVersion: v,
      at: T0.toISOString(),
    });

    it('allocates versions that never repeat and records the claim', async () => {
      await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
      const first = await allocateConfigVersion(table, { orgId: ORG_ID, roleName: ROLE_NAME, expectedLastConfigVersion: 0, now: T0, claimFor });
      const second = await allocateConfigVersion(table, { orgId: ORG_ID, roleName: ROLE_NAME, expectedLastConfigVersion: 1, now: T0, claimFor });
      expect([first?.configVersion, second?.configVersion]).toEqual([1, 2]);
      const backend = (await read()).backends[ROLE_NAME];
      expect(backend?.lastConfigVersion).toBe(2);
      expect(backend?.inflight?.executionName).toBe(nameFor(2));
    });

    it('returns undefined when another writer allocated first', async () => {
      await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
      await allocateConfigVersion(table, { orgId: ORG_ID, roleName: ROLE_NAME, expectedLastConfigVersion: 0, now: T0, claimFor });
      const lost = await allocateConfigVersion(table, { orgId: ORG_ID, roleName: ROLE_NAME, expectedLastConfigVersion: 0, now: T0, claimFor });
      expect(lost).toBeUndefined();
      expect((await read()).backends[ROLE_NAME]?.lastConfigVersion).toBe(1);
    });
  });

  describe('writePendingConfig', () => {
    it('writes the pending config without touching routing or the serving config', async () => {
      await withPending(1);
      const record = await read();
      expect(record.backends[ROLE_NAME]?.pending?.status).toBe('PENDING');
      expect(record.active).toBeUndefined();
      expect(record.backends[ROLE_NAME]?.serving).toBeUndefined();
    });

    it('accepts a retry by the same execution', async () => {
      await withPending(1);
      const again = await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 1 }), now: T0 });
      expect(again).toBe(true);
    });

    it('refuses while another execution holds an unfinished pending config', async () => {
      await withPending(1);
      const ok = await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2 }), now: T0 });
      expect(ok).toBe(false);
      expect((await read()).backends[ROLE_NAME]?.pending?.configVersion).toBe(1);
    });

    it('replaces a FAILED or ABANDONED pending config', async () => {
      await withPending(1, { status: 'FAILED' });
      expect(await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2 }), now: T0 })).toBe(true);
      await markAbandoned(table, refFor(2), { now: T0, reason: { name: 'ExecutionAborted', message: 'stopped', remediation: 'retry', at: T0.toISOString() } });
      expect(await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 3 }), now: T0, lastConfigVersion: 3 })).toBe(true);
      const backend = (await read()).backends[ROLE_NAME];
      expect(backend?.pending?.configVersion).toBe(3);
      expect(backend?.lastConfigVersion).toBe(3);
    });

    it('refuses when the backend entry does not exist', async () => {
      const ok = await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config(), now: T0 });
      expect(ok).toBe(false);
    });
  });

  describe('status updates by the owning execution', () => {
    it('sets the status and bumps the version on every write', async () => {
      await withPending(1);
      const before = (await read()).version;
      await setPendingStatus(table, refFor(1), 'VERIFYING', { now: later(5) });
      const record = await read();
      expect(record.backends[ROLE_NAME]?.pending?.status).toBe('VERIFYING');
      expect(record.backends[ROLE_NAME]?.pending?.updatedAt).toBe(later(5).toISOString());
      expect(record.version).toBe(before + 1);
    });

    it('throws StaleExecutionError when another execution owns the pending config', async () => {
      await withPending(2);
      await expect(setPendingStatus(table, refFor(1), 'VERIFYING', { now: T0 })).rejects.toThrow(StaleExecutionError);
    });

    it('throws StaleExecutionError once the config was marked abandoned', async () => {
      await withPending(1);
      await markAbandoned(table, refFor(1), { now: T0, reason: { name: 'ExecutionAborted', message: 'stopped', remediation: 'retry', at: T0.toISOString() } });
      await expect(setPendingStatus(table, refFor(1), 'VERIFYING', { now: T0 })).rejects.toThrow(StaleExecutionError);
    });

    it('records a trust attempt and removes nextCheckAt once trusted', async () => {
      await withPending(1);
      await recordTrustAttempt(table, refFor(1), { attempts: 1, checkedAt: later(60), result: 'AccessDenied on the customer role', nextCheckAt: later(120).toISOString() });
      let pending = (await read()).backends[ROLE_NAME]?.pending;
      expect(pending).toMatchObject({ attempts: 1, lastCheckedAt: later(60).toISOString(), nextCheckAt: later(120).toISOString(), status: 'PENDING' });
      await recordTrustAttempt(table, refFor(1), { attempts: 2, checkedAt: later(120), result: 'trusted', status: 'VERIFYING' });
      pending = (await read()).backends[ROLE_NAME]?.pending;
      expect(pending).toMatchObject({ attempts: 2, status: 'VERIFYING', lastCheckResult: 'trusted' });
      expect(pending?.nextCheckAt).toBeUndefined();
    });

    it('stores the trust policy on the backend and sets AWAITING_TRUST', async () => {
      await withPending(1);
      await storeTrustPolicy(table, refFor(1), { platformRoleArn: 'arn:aws:iam::111111111111:role/x', trustPolicy: '{"Version":"2012-10-17"}', instructions: 'apply it', now: later(30) });
      const backend = (await read()).backends[ROLE_NAME];
      expect(backend).toMatchObject({ platformRoleArn: 'arn:aws:iam::111111111111:role/x', trustPolicy: '{"Version":"2012-10-17"}', trustPolicyInstructions: 'apply it' });
      expect(backend?.pending).toMatchObject({ status: 'AWAITING_TRUST', trustPolicyReadyAt: later(30).toISOString() });
    });
  });

  describe('recordChecks', () => {
    it('replaces a check of the same name and counts failures', async () => {
      await withPending(1);
      await recordChecks(table, refFor(1), [check('bucket-region', 'PASS'), check('canary-put', 'FAIL')], T0);
      const merged = await recordChecks(table, refFor(1), [check('canary-put', 'PASS'), check('download', 'SKIP')], T0);
      expect(merged.map((c) => `${c.name}:${c.result}`)).toEqual(['bucket-region:PASS', 'canary-put:PASS', 'download:SKIP']);
      expect((await read()).backends[ROLE_NAME]?.pending?.failedChecks).toBe(0);
    });

    it('throws StaleExecutionError for an execution that does not own the config', async () => {
      await withPending(2);
      await expect(recordChecks(table, refFor(1), [check('x', 'PASS')], T0)).rejects.toThrow(StaleExecutionError);
    });
  });

  describe('activatePending', () => {
    it('moves a verified pending config to serving and points routing at the backend', async () => {
      await withPending(1, { status: 'VERIFIED', checks: [check('a', 'PASS')] });
      const activation = await activatePending(table, refFor(1), later(600));
      const record = await read();
      expect(activation?.alreadyActive).toBe(false);
      expect(record.active).toBe(ROLE_NAME);
      expect(record.backends[ROLE_NAME]?.pending).toBeUndefined();
      expect(record.backends[ROLE_NAME]?.serving).toMatchObject({ status: 'ACTIVE', activatedAt: later(600).toISOString(), configVersion: 1 });
    });

    it('answers alreadyActive to a retried activation', async () => {
      await withPending(1, { status: 'VERIFIED' });
      await activatePending(table, refFor(1), T0);
      const again = await activatePending(table, refFor(1), later(1));
      expect(again?.alreadyActive).toBe(true);
    });

    it('refuses a pending config that is not VERIFIED', async () => {
      await withPending(1, { status: 'VERIFYING' });
      expect(await activatePending(table, refFor(1), T0)).toBeUndefined();
      expect((await read()).active).toBeUndefined();
    });

    it('refuses when a recorded check failed', async () => {
      await withPending(1, { status: 'VERIFIED' });
      await recordChecks(table, refFor(1), [check('download', 'FAIL')], T0);
      expect(await activatePending(table, refFor(1), T0)).toBeUndefined();
    });

    it('refuses a stale execution, leaving the serving config serving', async () => {
      await withPending(1, { status: 'VERIFIED' });
      await activatePending(table, refFor(1), T0);
      await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2, status: 'VERIFIED' }), now: T0 });
      expect(await activatePending(table, refFor(3), T0)).toBeUndefined();
      const record = await read();
      expect(record.backends[ROLE_NAME]?.serving?.configVersion).toBe(1);
      expect(record.active).toBe(ROLE_NAME);
    });

    it('swaps a re-onboarded config in and reports the one it replaced', async () => {
      await withPending(1, { status: 'VERIFIED' });
      await activatePending(table, refFor(1), T0);
      await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2, status: 'VERIFIED' }), now: T0 });
      const activation = await activatePending(table, refFor(2), later(10));
      expect(activation?.previousServing?.configVersion).toBe(1);
      expect((await read()).backends[ROLE_NAME]?.serving?.configVersion).toBe(2);
    });
  });

  describe('recordFailure and markAbandoned', () => {
    const error = { name: 'TrustPolicyTimeoutError', message: 'too late', remediation: 'resend', at: T0.toISOString() };

    it('writes FAILED and the error on this execution\'s pending config only', async () => {
      await withPending(1, { status: 'VERIFIED' });
      await activatePending(table, refFor(1), T0);
      await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 2, nextCheckAt: later(60).toISOString() }), now: T0 });
      expect(await recordFailure(table, refFor(2), error, later(5))).toBe(true);
      const record = await read();
      expect(record.backends[ROLE_NAME]?.pending).toMatchObject({ status: 'FAILED', error });
      expect(record.backends[ROLE_NAME]?.pending?.nextCheckAt).toBeUndefined();
      expect(record.backends[ROLE_NAME]?.serving?.status).toBe('ACTIVE');
      expect(record.active).toBe(ROLE_NAME);
    });

    it('is a no-op for an execution that does not own the config', async () => {
      await withPending(2);
      expect(await recordFailure(table, refFor(1), error, T0)).toBe(false);
      expect((await read()).backends[ROLE_NAME]?.pending?.status).toBe('PENDING');
    });

    it('is a no-op when the org has no record at all', async () => {
      expect(await recordFailure(table, refFor(1), error, T0)).toBe(false);
    });

    it('does not overwrite a recorded failure when marking abandoned', async () => {
      await withPending(1);
      await recordFailure(table, refFor(1), error, T0);
      const wrote = await markAbandoned(table, refFor(1), { now: T0, reason: { ...error, name: 'ExecutionAborted' } });
      expect(wrote).toBe(false);
      expect((await read()).backends[ROLE_NAME]?.pending?.error?.name).toBe('TrustPolicyTimeoutError');
    });
  });

  describe('deactivateOrg', () => {
    it('removes the routing, keeps the serving config, and reports what was active', async () => {
      await withPending(1, { status: 'VERIFIED' });
      await activatePending(table, refFor(1), T0);
      const result = await deactivateOrg(table, { orgId: ORG_ID, now: later(1) });
      const record = await read();
      expect(result.previousActive).toBe(ROLE_NAME);
      expect(record.active).toBeUndefined();
      expect(record.backends[ROLE_NAME]?.serving?.status).toBe('ACTIVE');
    });

    it('writes nothing when the org already uses default storage', async () => {
      expect(await deactivateOrg(table, { orgId: ORG_ID, now: T0 })).toEqual({ fenced: [] });
      expect(await getOrgRecord(table.ddb, table.tableName, ORG_ID)).toBeUndefined();
    });

    it('bumps the fence epoch and names the onboardings in progress it fenced', async () => {
      await withPending(1, { status: 'AWAITING_TRUST', fenceEpoch: 0 });
      const result = await deactivateOrg(table, { orgId: ORG_ID, now: later(1) });
      expect(result).toMatchObject({ previousActive: undefined, fenceEpoch: 1 });
      expect(result.fenced).toEqual([{ roleName: ROLE_NAME, executionName: nameFor(1), executionArn: refFor(1).executionArn, status: 'AWAITING_TRUST' }]);
      expect((await read()).fenceEpoch).toBe(1);
    });

    it('refuses to activate a config recorded under an older fence epoch', async () => {
      await withPending(1, { status: 'VERIFIED', fenceEpoch: 0 });
      await deactivateOrg(table, { orgId: ORG_ID, now: later(1) });
      expect(await activatePending(table, refFor(1), later(2))).toBeUndefined();
      const record = await read();
      expect(record.active).toBeUndefined();
      expect(record.backends[ROLE_NAME]?.pending?.status).toBe('VERIFIED');
    });
  });

  describe('writeAuditEvent', () => {
    it('writes an event once; a retried step is a no-op', async () => {
      const event = { orgId: ORG_ID, executionName: nameFor(1), step: 'RecordConfig', attempt: 1, at: T0.toISOString(), detail: { configVersion: 1 } };
      expect(await writeAuditEvent(table, event)).toBe(true);
      expect(await writeAuditEvent(table, { ...event, at: later(1).toISOString() })).toBe(false);
      const out = await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk: `ORG#${ORG_ID}`, sk: `EVENT#${nameFor(1)}#RecordConfig#1` } }));
      expect(out.Item?.at).toBe(T0.toISOString());
    });
  });
});

describe('Module: backend-records (mocked DynamoDB)', () => {
  // Mock this one instance: mocking the class would also intercept the dynalite suite's client.
  const store = { ddb: DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), tableName: 't' };
  const ddbMock = mockClient(store.ddb);
  afterAll(() => ddbMock.restore());
  beforeEach(() => {
    ddbMock.reset();
  });

  it('turns throttling into TransientError', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    // Act + Assess
    await expect(setPendingStatus(store, refFor(1), 'VERIFYING', { now: T0 })).rejects.toThrow(TransientError);
  });

  it('turns a throttled read into TransientError', async () => {
    ddbMock.on(GetCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    await expect(recordChecks(store, refFor(1), [], T0)).rejects.toThrow(TransientError);
  });
});

describe('Function: parseStepInput', () => {
  it('accepts the context RecordConfig returns, with later results', () => {
    const input = { ...context(), trust: { trusted: false, attempt: 1, waitSeconds: 60, lastCheck: 'x' } };
    expect(parseStepInput(input).trust?.attempt).toBe(1);
  });

  it('names each missing or bad field', () => {
    const bad = { ...context(), orgId: 'nope', upload: undefined };
    expect(() => parseStepInput(bad)).toThrow(ValidationError);
    try {
      parseStepInput(bad);
    } catch (err) {
      expect((err as ValidationError).fields).toEqual(expect.arrayContaining(['orgId', 'upload']));
    }
  });
});
