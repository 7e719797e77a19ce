/**
 * Approval before an active org's storage changes (issue 9.2), on the real ASL with the real handlers:
 * the RequestApproval wait (a task token, local/task-tokens.ts), decideApproval as API Gateway's HTTP API
 * invokes it, and each stage policy (`always`, `when-active`, `never`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  APPROVER_ARN,
  Harness,
  SUPPORT_ARN,
  executionInput,
  stateOutput,
  statesEntered,
  timesEntered,
  type ExecutionResult,
} from './harness';
import type { ApprovalPolicy } from '#shared/approval';

let h: Harness;
afterEach(async () => {
  await h.stop();
});

async function harness(approvalPolicy: ApprovalPolicy): Promise<Harness> {
  h = await Harness.start({ approvalPolicy });
  h.cloud.trustAppliedAt = new Date(0);
  h.cloud.buckets.get('acme-firmware')!.objects.set('firmware/acme-1.2.3.fw', Buffer.from('firmware v1.2.3'));
  return h;
}

/** A first onboarding that activates (no approval under `when-active`: the org served from default storage). */
async function activeOrg(): Promise<void> {
  const first = await h.run(executionInput());
  expect(first.status).toBe('SUCCEEDED');
}

const BEFORE_WAIT = ['RecordConfig', 'CreatePlatformRole', 'CheckTrust', 'IsTrusted', 'VerifyUpload', 'VerifyDownload', 'IsCloudFrontDeployed', 'Cleanup', 'AfterCleanup'];
const FAILURE_TAIL = ['RecordFailure', 'Cleanup', 'AfterCleanup', 'SummarizeFailure', 'OnboardingFailed'];

function expectFailedWith(run: ExecutionResult, error: string): void {
  expect(run.status).toBe('FAILED');
  expect(run.error).toBe(error);
  expect(statesEntered(run.events).slice(-FAILURE_TAIL.length)).toEqual(FAILURE_TAIL);
  expect(stateOutput(run.events, 'Cleanup')?.error).toMatchObject({ Error: error });
}

describe('State machine: approval under when-active (the default)', () => {
  it('activates a first backend without waiting: the org served from default storage', async () => {
    await harness('when-active');

    const run = await h.run(executionInput());

    expect(run.status).toBe('SUCCEEDED');
    expect(timesEntered(run.events, 'RequestApproval')).toBe(0);
    expect(h.cloud.events.filter((e) => e.DetailType === 'Approval Requested')).toEqual([]);
  });

  it('makes a re-onboarding of an active org wait in RequestApproval, AWAITING_APPROVAL, with Approval Requested emitted', async () => {
    await harness('when-active');
    await activeOrg();

    const execution = h.start(executionInput({ configVersion: 2 }));
    await h.awaitingApproval(execution.arn);

    const record = await h.record();
    expect(record.active).toBe('prod');
    expect(record.backends.prod!.serving).toMatchObject({ configVersion: 1, status: 'ACTIVE' });
    const pending = record.backends.prod!.pending!;
    expect(pending).toMatchObject({ configVersion: 2, status: 'AWAITING_APPROVAL', approval: { requestedBy: SUPPORT_ARN } });
    expect(pending.approval!.taskToken).toEqual(expect.any(String));
    expect(await h.audit(execution.name, 'RequestApproval')).toMatchObject({ detail: { requestedBy: SUPPORT_ARN, policy: 'when-active', activeBackend: 'prod' } });
    const requested = h.cloud.events.filter((e) => e.DetailType === 'Approval Requested');
    expect(requested).toHaveLength(1);
    expect((requested[0] as { Source?: string }).Source).toBe('peridio.binary-backends');
    expect(JSON.parse(String(requested[0]!.Detail))).toMatchObject({ executionArn: execution.arn, requestedBy: SUPPORT_ARN, activeBackend: 'prod' });
    expect(String(requested[0]!.Detail)).not.toContain(pending.approval!.taskToken!);
    await h.decide(execution.arn, APPROVER_ARN, 'approve');
    expect((await execution.done).status).toBe('SUCCEEDED');
  });

  it('activates once a second principal approves, and the history and record show who asked and who approved', async () => {
    await harness('when-active');
    await activeOrg();
    const execution = h.start(executionInput({ configVersion: 2 }));
    await h.awaitingApproval(execution.arn);

    const decision = await h.decide(execution.arn, APPROVER_ARN, 'approve');
    const run = await execution.done;

    expect(decision).toMatchObject({ decision: 'APPROVED', decidedBy: APPROVER_ARN, requestedBy: SUPPORT_ARN });
    expect(run.status).toBe('SUCCEEDED');
    expect(statesEntered(run.events)).toEqual([...BEFORE_WAIT, 'RequestApproval', 'Activate', 'OnboardingSucceeded']);
    expect(stateOutput(run.events, 'RequestApproval')?.approvalDecision).toEqual({ approvedBy: APPROVER_ARN, approvedAt: decision.decidedAt });
    const record = await h.record();
    expect(record.active).toBe('prod');
    expect(record.backends.prod!.pending).toBeUndefined();
    const serving = record.backends.prod!.serving!;
    expect(serving).toMatchObject({ configVersion: 2, status: 'ACTIVE', approval: { requestedBy: SUPPORT_ARN, decision: 'APPROVED', decidedBy: APPROVER_ARN } });
    expect(serving.approval!.taskToken).toBeUndefined();
    expect(await h.audit(execution.name, 'ApprovalDecision')).toMatchObject({ detail: { decision: 'APPROVED', decidedBy: APPROVER_ARN, requestedBy: SUPPORT_ARN } });
  });

  it('refuses a self-approval with ApprovalNotAllowedError and changes nothing: the execution keeps waiting', async () => {
    await harness('when-active');
    await activeOrg();
    const execution = h.start(executionInput({ configVersion: 2 }));
    await h.awaitingApproval(execution.arn);
    const before = await h.record();

    await expect(h.decide(execution.arn, SUPPORT_ARN, 'approve')).rejects.toMatchObject({ name: 'ApprovalNotAllowedError' });
    await expect(h.decide(execution.arn, undefined, 'approve')).rejects.toMatchObject({ name: 'ApprovalNotAllowedError' });

    expect(await h.record()).toEqual(before);
    expect(h.tokens.pending(execution.arn)).toHaveLength(1);
    expect(await h.audit(execution.name, 'ApprovalDecision')).toBeUndefined();
    await h.decide(execution.arn, APPROVER_ARN, 'approve');
    expect((await execution.done).status).toBe('SUCCEEDED');
  });

  it('fails with ApprovalRejectedError on a rejection, with the reason, leaving the serving config and routing untouched', async () => {
    await harness('when-active');
    await activeOrg();
    const execution = h.start(executionInput({ configVersion: 2 }));
    await h.awaitingApproval(execution.arn);

    await h.decide(execution.arn, APPROVER_ARN, 'reject', 'the customer did not ask for a new bucket');
    const run = await execution.done;

    expectFailedWith(run, 'ApprovalRejectedError');
    expect(run.cause).toContain('the customer did not ask for a new bucket');
    expect(run.cause).toContain(APPROVER_ARN);
    expect(timesEntered(run.events, 'Activate')).toBe(0);
    const record = await h.record();
    expect(record.active).toBe('prod');
    expect(record.backends.prod!.serving).toMatchObject({ configVersion: 1, status: 'ACTIVE' });
    expect(record.backends.prod!.pending).toMatchObject({
      configVersion: 2,
      status: 'FAILED',
      error: { name: 'ApprovalRejectedError' },
      approval: { decision: 'REJECTED', decidedBy: APPROVER_ARN, reason: 'the customer did not ask for a new bucket' },
    });
    expect(record.backends.prod!.pending!.error!.remediation).toMatch(/serving config still serves/);
    expect((await h.deviceDownload('acme-1.2.3.fw')).status).toBe(200);
  });

  it('fails with ApprovalExpiredError when nobody decides before the timeout; a late decision is refused', async () => {
    await harness('when-active');
    await activeOrg();
    const execution = h.start(executionInput({ configVersion: 2 }));

    await h.expireApproval(execution.arn);
    const run = await execution.done;

    expectFailedWith(run, 'ApprovalExpiredError');
    expect(statesEntered(run.events)).toEqual([...BEFORE_WAIT, 'RequestApproval', 'ExpireApproval', ...FAILURE_TAIL]);
    const record = await h.record();
    expect(record.active).toBe('prod');
    expect(record.backends.prod!.serving).toMatchObject({ configVersion: 1, status: 'ACTIVE' });
    expect(record.backends.prod!.pending).toMatchObject({ status: 'FAILED', error: { name: 'ApprovalExpiredError' } });
    await expect(h.decide(execution.arn, APPROVER_ARN, 'approve')).rejects.toMatchObject({ name: 'ApprovalNotPendingError' });
  });

  it('waits when a new backend would activate while another one serves', async () => {
    await harness('when-active');
    await activeOrg();

    const execution = h.start(executionInput({ roleName: 'staging', configVersion: 1 }));
    await h.awaitingApproval(execution.arn);

    expect((await h.record()).backends.staging!.pending).toMatchObject({ status: 'AWAITING_APPROVAL' });
    await h.decide(execution.arn, APPROVER_ARN, 'approve');
    expect((await execution.done).status).toBe('SUCCEEDED');
    expect((await h.record()).active).toBe('staging');
  });

  it('refuses to activate unapproved a backend whose org started serving from another backend meanwhile', async () => {
    await harness('when-active');
    // staging starts while the org is on default storage (no approval planned); prod activates first.
    let prodDone: Promise<ExecutionResult> | undefined;
    h.beforeTask.Activate = async (input) => {
      if (input.roleName === 'staging' && !prodDone) {
        prodDone = h.run(executionInput());
        expect((await prodDone).status).toBe('SUCCEEDED');
      }
    };

    const run = await h.run(executionInput({ roleName: 'staging', configVersion: 1 }));

    expectFailedWith(run, 'ActivationConflictError');
    expect(run.cause).toMatch(/now needs approval/);
    expect((await h.record()).active).toBe('prod');
  });

  it('refuses a decision on an execution that is not waiting, or does not exist, with ApprovalNotPendingError', async () => {
    await harness('when-active');
    const first = await h.run(executionInput());

    await expect(h.decide(first.executionArn, APPROVER_ARN, 'approve')).rejects.toMatchObject({ name: 'ApprovalNotPendingError' });
    await expect(h.decide(first.executionArn.replace(/-1$/, '-9'), APPROVER_ARN, 'approve')).rejects.toMatchObject({ name: 'ApprovalNotPendingError' });
  });
});

describe('State machine: approval policies always and never', () => {
  it('always: even a first activation waits for a second principal', async () => {
    await harness('always');
    const execution = h.start(executionInput());
    await h.awaitingApproval(execution.arn);

    expect((await h.record()).active).toBeUndefined();
    await h.decide(execution.arn, APPROVER_ARN, 'approve');
    const run = await execution.done;

    expect(run.status).toBe('SUCCEEDED');
    expect(timesEntered(run.events, 'RequestApproval')).toBe(1);
    expect((await h.record()).active).toBe('prod');
  });

  it('never: a re-onboarding of an active org activates without a wait', async () => {
    await harness('never');
    await activeOrg();

    const run = await h.run(executionInput({ configVersion: 2 }));

    expect(run.status).toBe('SUCCEEDED');
    expect(timesEntered(run.events, 'RequestApproval')).toBe(0);
    expect((await h.record()).backends.prod!.serving).toMatchObject({ configVersion: 2, status: 'ACTIVE' });
    expect((await h.record()).backends.prod!.serving!.approval).toBeUndefined();
  });
});
