/**
 * Abuse cases of issue 9 items 3 and 4, end to end on the local stack (real wire protocols, the local STS's
 * policy engine): a trust policy that accepts any UUID-shaped external ID, another org claiming a bucket
 * that is being onboarded, and a deactivation during an onboarding.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { runCli } from '../../cli/main';
import { readOrg } from '../../cli/records';
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

async function trustPolicyOf(orgId: string): Promise<string> {
  return pollUntil(async () => (await readOrg(e.platform.dynamo, e.env.BINARY_BACKENDS_TABLE!, orgId))?.backends.prod?.trustPolicy, {
    what: 'the trust policy',
  });
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

describe('E2E: trust bound to this org', () => {
  it('refuses a customer role that accepts any UUID-shaped external ID (StringLike) with ExternalIdNotEnforcedError', async () => {
    const org = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-like-${org.slice(0, 8)}`, roleName: 'PeridioLike' });
    const onboard = await cli(['onboard', '--org', org, '--role-name', 'prod', '--bucket', cb.bucket, '--region', cb.region, '--role-arn', cb.roleArn, '--json']);
    expect(onboard.code).toBe(0);
    const started = JSON.parse(onboard.stdout) as StarterResult;
    const policy = JSON.parse(await trustPolicyOf(org)) as { Statement: { Condition: Record<string, unknown> }[] };
    policy.Statement[0]!.Condition = { StringLike: { 'sts:ExternalId': '????????-????-????-????-????????????' } };
    await applyTrustPolicy(e, cb.roleName, JSON.stringify(policy));

    expect(await finalStatus(started.executionArn)).toEqual({ status: 'FAILED', error: 'ExternalIdNotEnforcedError' });
    expect((await readOrg(e.platform.dynamo, e.env.BINARY_BACKENDS_TABLE!, org))?.active).toBeUndefined();
  });

  it("refuses at once another org's onboarding of a bucket that is being onboarded, naming the error", async () => {
    const orgA = newOrgId();
    const orgB = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-claim-${orgA.slice(0, 8)}`, roleName: 'PeridioClaimA' });
    const other = await createCustomerBackend(e, { bucket: `e2e-claim2-${orgB.slice(0, 8)}`, roleName: 'PeridioClaimB' });
    const a = await cli(['onboard', '--org', orgA, '--role-name', 'prod', '--bucket', cb.bucket, '--region', cb.region, '--role-arn', cb.roleArn]);
    expect(a.code).toBe(0);
    await trustPolicyOf(orgA); // A's execution is running, waiting for trust

    const b = await cli(['onboard', '--org', orgB, '--role-name', 'prod', '--bucket', cb.bucket, '--region', cb.region, '--role-arn', other.roleArn]);
    expect(b.code).not.toBe(0);
    expect(`${b.stdout}${b.stderr}`).toContain('ClaimedByAnotherOrgError');
    expect(await readOrg(e.platform.dynamo, e.env.BINARY_BACKENDS_TABLE!, orgB)).toBeUndefined();
  });
});

describe('E2E: a deactivation fences a running onboarding', () => {
  it('names the running onboarding in the CLI output, and it then fails with OnboardingFencedError instead of activating', async () => {
    const org = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-fence-${org.slice(0, 8)}`, roleName: 'PeridioFence' });
    const onboard = await cli(['onboard', '--org', org, '--role-name', 'prod', '--bucket', cb.bucket, '--region', cb.region, '--role-arn', cb.roleArn, '--json']);
    expect(onboard.code).toBe(0);
    const started = JSON.parse(onboard.stdout) as StarterResult;
    const policy = await trustPolicyOf(org);

    const off = await cli(['deactivate', '--org', org, '--confirm']);
    expect(off.code).toBe(0);
    expect(off.stdout).toContain(`Fenced: onboarding ${started.executionName} of backend "prod"`);
    await applyTrustPolicy(e, cb.roleName, policy);

    expect(await finalStatus(started.executionArn)).toEqual({ status: 'FAILED', error: 'OnboardingFencedError' });
    const record = await readOrg(e.platform.dynamo, e.env.BINARY_BACKENDS_TABLE!, org);
    expect(record?.active).toBeUndefined();
    expect(record?.backends.prod?.pending).toMatchObject({ status: 'FAILED', error: { name: 'OnboardingFencedError' } });
  });
});
