/**
 * Trust policies that must never activate, end to end: a wrong ExternalId (the workflow keeps polling
 * until its deadline, then fails with TrustPolicyTimeoutError) and no ExternalId condition at all (the
 * confused-deputy probe fails it with ExternalIdNotEnforcedError). Support and operators see the named
 * error and its remediation in `status`, `history`, `onboard --follow` and `history --follow`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { runCli } from '../../cli/main';
import { invokeJson } from '../../cli/lambda';
import { readOrg } from '../../cli/records';
import type { HistoryResult } from '../../cli/commands/history';
import type { StatusResult } from '../../cli/commands/records-view';
import type { StarterResult } from '../../cli/commands/onboard';
import { capture } from './helpers/capture';
import { applyTrustPolicy, createCustomerBackend, newOrgId, pollUntil, startE2eStack, type E2eStack } from './helpers/stack';

let e: E2eStack;
beforeAll(async () => {
  e = await startE2eStack();
});
afterAll(async () => {
  await e?.stop();
});

async function cli(argv: string[]) {
  const c = capture(e.env);
  const code = await runCli(argv, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

async function trustPolicyOf(orgId: string, roleName: string): Promise<string> {
  return pollUntil(
    async () => {
      const record = await readOrg(e.platform.dynamo, e.env.BINARY_BACKENDS_TABLE!, orgId);
      return record?.backends[roleName]?.trustPolicy;
    },
    { what: 'the trust policy' },
  );
}

async function finalStatus(executionArn: string): Promise<{ status: string; error?: string }> {
  return pollUntil(
    async () => {
      const d = await e.platform.sfn.send(new DescribeExecutionCommand({ executionArn }));
      return d.status !== 'RUNNING' && { status: d.status!, error: d.error };
    },
    { what: 'the execution to end', timeoutMs: 25_000 },
  );
}

describe('E2E: trust policies that must not activate', () => {
  it('never activates with a wrong ExternalId and ends in TrustPolicyTimeoutError at the deadline', async () => {
    const org = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-to-${org.slice(0, 8)}`, roleName: 'PeridioTo' });
    // The CLI keeps the 7-day default; a short deadline is set by invoking the starter as the event path does.
    const started = await invokeJson<StarterResult>(e.platform.lambda, e.env.BINARY_BACKENDS_STARTER_FUNCTION!, {
      orgId: org,
      roleName: 'prod',
      upload: { bucket: cb.bucket, region: cb.region, roleArn: cb.roleArn },
      download: { type: 's3' },
      trustDeadlineSeconds: 2,
      requestedBy: 'e2e-test',
    });
    const policy = JSON.parse(await trustPolicyOf(org, 'prod')) as { Statement: { Condition: { StringEquals: Record<string, string> } }[] };
    policy.Statement[0]!.Condition.StringEquals['sts:ExternalId'] = newOrgId();
    await applyTrustPolicy(e, cb.roleName, JSON.stringify(policy));

    const end = await finalStatus(started.executionArn);
    expect(end).toEqual({ status: 'FAILED', error: 'TrustPolicyTimeoutError' });

    const status = await cli(['status', '--org', org, '--json']);
    const s = JSON.parse(status.stdout) as StatusResult;
    expect(s.storage).toBe('default');
    expect(s.backends[0]!.pending).toMatchObject({ status: 'FAILED', error: { name: 'TrustPolicyTimeoutError' } });
    expect(s.backends[0]!.pending!.attempts).toBeGreaterThan(1);

    const history = await cli(['history', '--org', org]);
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/CheckTrust .*\d+ checks/);
    expect(history.stdout).toContain('failed: TrustPolicyTimeoutError');
    expect(history.stdout).toContain('fix: The customer did not apply the trust policy in time');
    const h = JSON.parse((await cli(['history', '--org', org, '--json'])).stdout) as HistoryResult;
    const loop = h.executions[0]!.timeline.find((t) => t.kind === 'trust-loop');
    expect(loop && loop.kind === 'trust-loop' && loop.checks).toBeGreaterThan(1);
  });

  it('fails with ExternalIdNotEnforcedError when the customer role can be assumed without an ExternalId', async () => {
    const org = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-xid-${org.slice(0, 8)}`, roleName: 'PeridioXid' });
    const args = ['onboard', '--org', org, '--role-name', 'prod', '--bucket', cb.bucket, '--region', cb.region, '--role-arn', cb.roleArn];
    const first = await cli(args);
    expect(first.code).toBe(0);
    const policy = JSON.parse(await trustPolicyOf(org, 'prod')) as { Statement: { Condition?: unknown }[] };
    delete policy.Statement[0]!.Condition;

    const c = capture(e.env);
    const following = runCli([...args, '--follow'], c.io);
    // An operator follows the same execution from `history --follow` meanwhile.
    const h = capture(e.env);
    const historyFollowing = runCli(['history', '--org', org, '--follow'], h.io);
    await pollUntil(async () => c.stdout().includes('Following') && h.stdout().includes('Following'), { what: 'both follows to attach' });
    await applyTrustPolicy(e, cb.roleName, JSON.stringify(policy));
    expect(await following).toBe(1);
    expect(c.stdout()).toContain('ExternalIdNotEnforcedError');
    expect(c.stdout()).toContain('sts:ExternalId');
    expect(await historyFollowing).toBe(1);
    expect(h.stdout()).toMatch(new RegExp(`\\nFollowing arn:\\S+:execution:\\S+:${org}-prod-1\\n`));
    expect(h.stdout()).toMatch(/✘ Onboarding FAILED: ExternalIdNotEnforcedError: .*\n {2}fix: .*sts:ExternalId/);

    const s = JSON.parse((await cli(['status', '--org', org, '--json'])).stdout) as StatusResult;
    expect(s.storage).toBe('default');
    expect(s.backends[0]!.pending).toMatchObject({ status: 'FAILED', error: { name: 'ExternalIdNotEnforcedError' } });
    const human = await cli(['status', '--org', org]);
    expect(human.stdout).toContain('ExternalIdNotEnforcedError');
  });
});
