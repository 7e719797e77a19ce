/**
 * Approval before an active org's storage changes, end to end through the CLI on the local stack with the
 * stage policy `when-active`: the first activation goes straight through; a re-onboarding waits in
 * RequestApproval; the requester cannot approve it; a second platform user (local-approver) can, and the
 * history then shows who asked and who approved. A rejection leaves the serving config serving.
 *
 * Every decision goes through the real CLI (`binary-backends approve|reject`), which signs `POST /approvals` on
 * the local front door (the IAM-authorized HTTP API stand-in) with the caller's own credentials: the
 * requester's (local-support) is refused, the second platform user's (local-approver) is recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/main';
import type { OnboardResult } from '../../cli/commands/onboard';
import type { StatusResult } from '../../cli/commands/records-view';
import type { HistoryResult } from '../../cli/commands/history';
import { capture } from './helpers/capture';
import { applyTrustPolicy, createCustomerBackend, newOrgId, pollUntil, startE2eStack, type CustomerBackend, type E2eStack } from './helpers/stack';

let e: E2eStack;
beforeAll(async () => {
  e = await startE2eStack({ approvalPolicy: 'when-active' });
});
afterAll(async () => {
  await e?.stop();
});

async function cli(argv: string[], env: Record<string, string | undefined> = e.env) {
  const c = capture(env);
  const code = await runCli(argv, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr(), json: <T>() => JSON.parse(c.stdout()) as T };
}

/** The CLI's environment with the second platform user's credentials (local/stack.ts: local-approver). */
function approverEnv(): Record<string, string | undefined> {
  return { ...e.env, AWS_ACCESS_KEY_ID: e.env.APPROVER_AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: e.env.APPROVER_AWS_SECRET_ACCESS_KEY };
}
/** `binary-backends approve|reject <execution> [--reason] --json` as the approver. */
async function decideAsApprover(execution: string, decision: 'approve' | 'reject', reason?: string) {
  return cli([decision, execution, ...(reason ? ['--reason', reason] : []), '--json'], approverEnv());
}
const APPROVER = 'arn:aws:iam::111111111111:user/local-approver';

function onboardArgs(org: string, cb: CustomerBackend): string[] {
  return ['onboard', '--org', org, '--role-name', 'prod', '--bucket', cb.bucket, '--region', cb.region, '--role-arn', cb.roleArn];
}

/** An org serving from its custom backend: onboarded, trusted, activated (no approval: it was on default storage). */
async function activeOrg(tag: string): Promise<{ org: string; cb: CustomerBackend }> {
  const org = newOrgId();
  const cb = await createCustomerBackend(e, { bucket: `e2e-ap-${tag}-${org.slice(0, 8)}`, roleName: `PeridioAp${tag}` });
  const started = await cli([...onboardArgs(org, cb), '--json']);
  expect(started.code, started.stderr).toBe(0);
  const policy = await pollUntil(
    async () => {
      const tp = await cli(['trust-policy', '--org', org, '--role-name', 'prod']);
      return tp.code === 0 && tp.stdout;
    },
    { what: 'the trust policy' },
  );
  await applyTrustPolicy(e, cb.roleName, policy);
  await pollUntil(async () => (await cli(['status', '--org', org, '--json'])).json<StatusResult>().active === 'prod', { what: 'activation', timeoutMs: 60_000 });
  return { org, cb };
}

/** The customer moves to a new bucket and role: a re-onboarding (config v2) that waits for approval. */
async function reonboardAwaitingApproval(org: string, tag: string): Promise<string> {
  const moved = await createCustomerBackend(e, { bucket: `e2e-ap-${tag}2-${org.slice(0, 8)}`, roleName: `PeridioAp${tag}2` });
  const again = await cli([...onboardArgs(org, moved), '--json']);
  expect(again.code, again.stderr).toBe(0);
  const started = again.json<OnboardResult>();
  expect(started.configVersion).toBe(2);
  await applyTrustPolicy(e, moved.roleName, JSON.stringify(started.trustPolicy));
  await pollUntil(
    async () => (await cli(['status', '--org', org, '--json'])).json<StatusResult>().backends[0]!.pending?.status === 'AWAITING_APPROVAL',
    { what: 'AWAITING_APPROVAL', timeoutMs: 60_000 },
  );
  return started.executionArn.split(':').pop()!;
}

describe('E2E: approval by a second principal (policy when-active)', { timeout: 120_000 }, () => {
  it('makes a re-onboarding of an active org wait; the requester cannot approve; a second user can, and history shows both', async () => {
    const { org } = await activeOrg('a');
    const execution = await reonboardAwaitingApproval(org, 'a');

    const status = await cli(['status', '--org', org]);
    expect(status.stdout).toContain(`binary-backends approve ${execution}`);
    expect(status.stdout).toContain('awaiting approval by a second person (asked by arn:aws:iam::111111111111:user/local-support');
    const statusJson = (await cli(['status', '--org', org, '--json'])).stdout;
    expect(statusJson).not.toMatch(/taskToken/);

    // The requester (the CLI's default credentials, verified by the front door) may not approve their own change.
    const self = await cli(['approve', execution, '--json']);
    expect(self.code).toBe(1);
    expect(self.stdout + self.stderr).toMatch(/ApprovalNotAllowedError/);
    expect((await cli(['status', '--org', org, '--json'])).json<StatusResult>().backends[0]!.pending!.status).toBe('AWAITING_APPROVAL');

    const approved = await decideAsApprover(execution, 'approve');
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.json()).toMatchObject({ decision: 'APPROVED', decidedBy: APPROVER });

    await pollUntil(async () => (await cli(['status', '--org', org, '--json'])).json<StatusResult>().backends[0]!.pending === undefined, { what: 'activation of v2', timeoutMs: 60_000 });
    const serving = (await cli(['status', '--org', org, '--json'])).json<StatusResult>().backends[0]!.serving!;
    expect(serving).toMatchObject({ configVersion: 2, status: 'ACTIVE', approval: { state: 'APPROVED', decidedBy: 'arn:aws:iam::111111111111:user/local-approver' } });
    // The config serves as soon as Activate's write lands; the execution ends after Activate's side effects.
    const x = await pollUntil(
      async () => {
        const h = (await cli(['history', '--org', org, '--json'])).json<HistoryResult>().executions.find((y) => y.name === execution);
        return h?.status === 'SUCCEEDED' && h;
      },
      { what: 'the execution to succeed', timeoutMs: 60_000 },
    );
    expect(x.approval).toMatchObject({ state: 'APPROVED', requestedBy: 'arn:aws:iam::111111111111:user/local-support', decidedBy: 'arn:aws:iam::111111111111:user/local-approver' });
    expect(x.timeline.map((t) => t.name)).toContain('RequestApproval');
  });

  it('ends a rejected re-onboarding with ApprovalRejectedError and keeps the serving config serving', async () => {
    const { org } = await activeOrg('r');
    const execution = await reonboardAwaitingApproval(org, 'r');

    const rejected = await decideAsApprover(execution, 'reject', 'customer did not ask for this');
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(rejected.json<{ decision: string }>().decision).toBe('REJECTED');

    await pollUntil(async () => (await cli(['status', '--org', org, '--json'])).json<StatusResult>().backends[0]!.pending?.status === 'FAILED', { what: 'FAILED', timeoutMs: 60_000 });
    const s = (await cli(['status', '--org', org, '--json'])).json<StatusResult>();
    expect(s.active).toBe('prod');
    expect(s.backends[0]!.serving).toMatchObject({ configVersion: 1, status: 'ACTIVE' });
    expect(s.backends[0]!.pending).toMatchObject({ error: { name: 'ApprovalRejectedError' }, approval: { state: 'REJECTED', reason: 'customer did not ask for this' } });
    const late = await decideAsApprover(execution, 'approve');
    expect(late.code).toBe(1);
    expect(late.stdout + late.stderr).toMatch(/ApprovalNotPendingError/);
  });

  it('refuses bad usage with exit 2 and names the problem', async () => {
    expect((await cli(['approve'])).code).toBe(2);
    const bad = await cli(['reject', 'some-exec', '--reason', 'x\u001b[2Jforged']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--reason/);
  });
});
