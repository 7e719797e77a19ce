import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { AssumeRoleCommand, RegionDisabledException, STSClient, STSServiceException, type AssumeRoleCommandInput } from '@aws-sdk/client-sts';
import {
  checkTrust,
  trustWaitSeconds,
  waitCapSeconds,
  type CheckTrustDeps,
} from '../../functions/onboarding/check-trust/check-trust';
import { createHandler } from '../../functions/onboarding/check-trust/handler';
import { getOrgRecord } from '#shared/records/read-sdk';
import type { StepInput } from '#shared/records/workflow-context';
import { ensureBackend, writePendingConfig } from '#shared/records/pending-writes';
import {
  ExternalIdNotEnforcedError,
  PlatformRoleNotAssumableError,
  StaleExecutionError,
  StsInvalidClientTokenError,
  StsRegionDisabledError,
  TransientError,
  TrustPolicyTimeoutError,
  ValidationError,
} from '#shared/errors';
import { startRecordsTable, type RecordsTable } from './helpers/records-table';
import { evaluate, parsePolicy } from '../../local/policy';
import { CUSTOMER_ROLE_ARN, ORG_ID, PLATFORM_ROLE_ARN, ROLE_NAME, T0, config, context } from './helpers/fixtures';

const denied = () => new STSServiceException({ name: 'AccessDenied', $fault: 'client', message: 'not authorized', $metadata: { httpStatusCode: 403 } });
const throttled = () => new STSServiceException({ name: 'Throttling', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
const regionDisabled = () => new RegionDisabledException({ message: 'STS is not activated in this region for account:222222222222.', $metadata: { httpStatusCode: 403 } });
const invalidToken = () =>
  new STSServiceException({ name: 'InvalidClientTokenId', $fault: 'client', message: 'The security token included in the request is invalid.', $metadata: { httpStatusCode: 403 } });
const credentials = (id: string) => ({
  Credentials: { AccessKeyId: id, SecretAccessKey: 'not-a-real-secret', SessionToken: 'token', Expiration: new Date(T0.getTime() + 3600_000) },
});

type Behaviour = 'allow' | 'deny' | 'throttle' | 'region-disabled' | 'invalid-token';
interface Scenario {
  platform: Behaviour;
  customer: Behaviour;
  withoutExternalId?: Behaviour;
  wrongExternalId?: Behaviour;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

describe('Function: checkTrust', () => {
  const stsMock = mockClient(STSClient);
  let table: RecordsTable;
  let now: Date;
  let metrics: string[];

  const deps = (): CheckTrustDeps => ({
    sts: () => new STSClient({ region: 'us-east-1' }),
    stsWith: (c) => new STSClient({ region: 'us-east-1', credentials: c }),
    store: table,
    clock: () => now,
    platformRoleGraceSeconds: 300,
    emitMetric: (line) => metrics.push(line),
  });

  function given(s: Scenario): void {
    stsMock.on(AssumeRoleCommand).callsFake((input: AssumeRoleCommandInput) => {
      let behaviour: Behaviour;
      if (input.RoleArn === PLATFORM_ROLE_ARN) behaviour = s.platform;
      else if (input.ExternalId === ORG_ID) behaviour = s.customer;
      else if (input.ExternalId === undefined) behaviour = s.withoutExternalId ?? 'deny';
      else behaviour = s.wrongExternalId ?? 'deny';
      if (behaviour === 'deny') throw denied();
      if (behaviour === 'throttle') throw throttled();
      if (behaviour === 'region-disabled') throw regionDisabled();
      if (behaviour === 'invalid-token') throw invalidToken();
      return credentials(input.RoleArn === PLATFORM_ROLE_ARN ? 'ASIAPLATFORM' : 'ASIACUSTOMER');
    });
  }

  const input = (overrides: Partial<StepInput> = {}): StepInput => ({
    ...context(),
    platformRole: { roleArn: PLATFORM_ROLE_ARN, trustPolicyReadyAt: T0.toISOString() },
    ...overrides,
  });
  const pending = async () => (await getOrgRecord(table.ddb, table.tableName, ORG_ID))!.backends[ROLE_NAME]!.pending!;

  beforeAll(async () => {
    table = await startRecordsTable();
  });
  afterAll(async () => {
    stsMock.restore();
    await table.stop();
  });
  beforeEach(async () => {
    stsMock.reset();
    now = at(60);
    metrics = [];
    await table.clear();
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ status: 'AWAITING_TRUST' }), now: T0 });
  });

  it('is trusted when the chain works with the external ID and both probes are refused', async () => {
    // Prepare
    given({ platform: 'allow', customer: 'allow' });
    // Act
    const result = await checkTrust(input(), deps());
    // Assess
    expect(result).toMatchObject({ trusted: true, attempt: 1, waitSeconds: 0 });
    expect(await pending()).toMatchObject({ status: 'VERIFYING', attempts: 1, lastCheckedAt: now.toISOString() });
    const calls = stsMock.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => [c.RoleArn, c.ExternalId])).toEqual([
      [PLATFORM_ROLE_ARN, undefined],
      [CUSTOMER_ROLE_ARN, ORG_ID],
      [CUSTOMER_ROLE_ARN, undefined],
      [CUSTOMER_ROLE_ARN, expect.stringMatching(UUID)],
    ]);
  });

  it('probes with a fresh random UUID every check, never the org ID nor a constant', async () => {
    // Prepare
    given({ platform: 'allow', customer: 'allow' });
    // Act
    await checkTrust(input(), deps());
    await checkTrust(input(), deps());
    // Assess
    const probes = stsMock
      .commandCalls(AssumeRoleCommand)
      .map((c) => c.args[0].input)
      .filter((c) => c.RoleArn === CUSTOMER_ROLE_ARN && c.ExternalId !== undefined && c.ExternalId !== ORG_ID)
      .map((c) => c.ExternalId);
    expect(probes).toHaveLength(2);
    expect(probes[0]).toMatch(UUID);
    expect(probes[1]).toMatch(UUID);
    expect(probes[0]).not.toBe(probes[1]);
  });

  it('catches a trust policy that accepts any UUID-shaped external ID (StringLike "????????-????-…")', async () => {
    // Prepare: the customer's trust policy, evaluated by the local stack's policy engine (local/policy.ts)
    const trust = parsePolicy(
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: PLATFORM_ROLE_ARN },
            Action: 'sts:AssumeRole',
            Condition: { StringLike: { 'sts:ExternalId': '????????-????-????-????-????????????' } },
          },
        ],
      }),
    );
    stsMock.on(AssumeRoleCommand).callsFake((i: AssumeRoleCommandInput) => {
      if (i.RoleArn === PLATFORM_ROLE_ARN) return credentials('ASIAPLATFORM');
      const verdict = evaluate(trust, 'sts:AssumeRole', {
        principal: (entry) => entry === PLATFORM_ROLE_ARN,
        context: { 'sts:ExternalId': i.ExternalId, 'aws:PrincipalArn': PLATFORM_ROLE_ARN },
      });
      if (verdict !== 'allow') throw denied();
      return credentials('ASIACUSTOMER');
    });
    // Act / Assess
    await expect(checkTrust(input(), deps())).rejects.toThrow(/with a wrong external ID/);
    await expect(checkTrust(input(), deps())).rejects.toThrow(ExternalIdNotEnforcedError);
  });

  it('keeps polling while AssumeRole on the customer role is denied', async () => {
    given({ platform: 'allow', customer: 'deny' });
    const result = await checkTrust(input({ trust: { trusted: false, attempt: 2, waitSeconds: 60, lastCheck: 'x' } }), deps());
    expect(result).toMatchObject({ trusted: false, attempt: 3, waitSeconds: 120, nextCheckAt: at(180).toISOString() });
    expect(result.lastCheck).toMatch(/AccessDenied on the customer role/);
    expect(await pending()).toMatchObject({ status: 'AWAITING_TRUST', attempts: 3, nextCheckAt: at(180).toISOString() });
  });

  it('reads a denied platform role within the grace as IAM propagation', async () => {
    given({ platform: 'deny', customer: 'allow' });
    now = at(299);
    const result = await checkTrust(input(), deps());
    expect(result.trusted).toBe(false);
    expect(result.lastCheck).toMatch(/platform role/);
  });

  it('fails with PlatformRoleNotAssumableError when the platform role stays denied after the grace', async () => {
    given({ platform: 'deny', customer: 'allow' });
    now = at(301);
    await expect(checkTrust(input(), deps())).rejects.toThrow(PlatformRoleNotAssumableError);
  });

  it('fails with StsRegionDisabledError, instead of polling, when STS is off in the region for the customer hop', async () => {
    given({ platform: 'allow', customer: 'region-disabled' });
    const err = await checkTrust(input(), deps()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StsRegionDisabledError);
    expect(err).toMatchObject({ hop: 'customer' });
  });

  it('fails with StsRegionDisabledError on the platform hop even within the IAM propagation grace', async () => {
    given({ platform: 'region-disabled', customer: 'allow' });
    now = at(10);
    await expect(checkTrust(input(), deps())).rejects.toBeInstanceOf(StsRegionDisabledError);
  });

  it('fails with StsInvalidClientTokenError, instead of polling, when STS does not know the signing credentials', async () => {
    given({ platform: 'allow', customer: 'invalid-token' });
    await expect(checkTrust(input(), deps())).rejects.toBeInstanceOf(StsInvalidClientTokenError);
  });

  it('fails with ExternalIdNotEnforcedError when the role can be assumed without an external ID', async () => {
    given({ platform: 'allow', customer: 'allow', withoutExternalId: 'allow', wrongExternalId: 'allow' });
    await expect(checkTrust(input(), deps())).rejects.toThrow(/without an external ID and with a wrong external ID/);
  });

  it('fails with ExternalIdNotEnforcedError when a wrong external ID is also accepted', async () => {
    given({ platform: 'allow', customer: 'allow', wrongExternalId: 'allow' });
    await expect(checkTrust(input(), deps())).rejects.toThrow(ExternalIdNotEnforcedError);
    expect((await pending()).status).toBe('AWAITING_TRUST');
  });

  it('fails with TrustPolicyTimeoutError once the deadline has passed, recording the last check', async () => {
    given({ platform: 'allow', customer: 'deny' });
    now = at(3601);
    await expect(checkTrust(input({ trustDeadlineAt: at(3600).toISOString() }), deps())).rejects.toThrow(TrustPolicyTimeoutError);
    expect((await pending()).lastCheckResult).toMatch(/deadline/);
  });

  it('still succeeds when the policy arrives exactly at the last check', async () => {
    given({ platform: 'allow', customer: 'allow' });
    now = at(3600);
    await expect(checkTrust(input({ trustDeadlineAt: at(3600).toISOString() }), deps())).resolves.toMatchObject({ trusted: true });
  });

  it('never waits past the deadline', async () => {
    given({ platform: 'allow', customer: 'deny' });
    now = at(3590);
    const result = await checkTrust(input({ trustDeadlineAt: at(3600).toISOString(), trust: { trusted: false, attempt: 9, waitSeconds: 300, lastCheck: 'x' } }), deps());
    expect(result.waitSeconds).toBe(10);
  });

  it('turns STS throttling into TransientError', async () => {
    given({ platform: 'throttle', customer: 'allow' });
    await expect(checkTrust(input(), deps())).rejects.toThrow(TransientError);
  });

  it('turns a throttled probe into TransientError rather than a verdict', async () => {
    given({ platform: 'allow', customer: 'allow', withoutExternalId: 'throttle' });
    await expect(checkTrust(input(), deps())).rejects.toThrow(TransientError);
  });

  it('throws StaleExecutionError when a newer execution owns the pending config', async () => {
    given({ platform: 'allow', customer: 'deny' });
    await expect(checkTrust(input({ ...context({ configVersion: 5 }) }), deps())).rejects.toThrow(StaleExecutionError);
  });

  it('logs the wait age as a CloudWatch embedded metric', async () => {
    given({ platform: 'allow', customer: 'deny' });
    now = at(125);
    await checkTrust(input(), deps());
    const emf = JSON.parse(metrics[0]!);
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'BinaryBackends', Metrics: [{ Name: 'TrustWaitAgeSeconds', Unit: 'Seconds' }] });
    expect(emf.TrustWaitAgeSeconds).toBe(125);
    // No dimension at all (the alarm is on the dimensionless metric), stamped with the injected clock.
    expect(emf._aws.CloudWatchMetrics[0].Dimensions).toEqual([[]]);
    expect(emf._aws.Timestamp).toBe(now.getTime());
    expect(emf).toMatchObject({ orgId: ORG_ID, attempt: expect.any(Number), trusted: false });
  });

  it('keeps credentials out of records and outputs', async () => {
    given({ platform: 'allow', customer: 'allow' });
    const result = await checkTrust(input(), deps());
    const everything = JSON.stringify([result, await getOrgRecord(table.ddb, table.tableName, ORG_ID), metrics]);
    expect(everything).not.toMatch(/not-a-real-secret|ASIAPLATFORM|ASIACUSTOMER/);
  });

  it('refuses a malformed state input through the handler', async () => {
    const handler = createHandler(deps());
    await expect(handler({ ...input(), trustDeadlineAt: 'soon' }, {} as never)).rejects.toThrow(ValidationError);
    expect(stsMock).not.toHaveReceivedCommand(AssumeRoleCommand);
  });
});

describe('Function: trustWaitSeconds', () => {
  it('backs off from 30 s and caps at 5 minutes during the first 2 hours', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => trustWaitSeconds(600, a, 1e9))).toEqual([30, 60, 120, 240, 300, 300]);
  });

  it('lets the cap grow to 15 minutes until 24 hours and to an hour after', () => {
    expect(waitCapSeconds(2 * 3600 - 1)).toBe(300);
    expect(trustWaitSeconds(3 * 3600, 40, 1e9)).toBe(900);
    expect(trustWaitSeconds(25 * 3600, 60, 1e9)).toBe(3600);
  });

  it('keeps a 7-day wait within the history budget', () => {
    // Prepare: simulate polls until 7 days have passed
    let elapsed = 0;
    let attempt = 0;
    while (elapsed < 7 * 86_400) {
      attempt += 1;
      elapsed += trustWaitSeconds(elapsed, attempt, 7 * 86_400 - elapsed);
    }
    // Assess: ~9 history events and 3 transitions per loop
    expect(attempt * 9).toBeLessThanOrEqual(3000);
    expect(attempt * 3).toBeLessThanOrEqual(1000);
  });
});
