/**
 * The real state machine (harness.ts) under the fences of issue 9: a deactivation during an onboarding,
 * and side effects of a successful activation that fail.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { deactivate } from '../../functions/deactivate/deactivate';
import { Harness, executionInput, stateFailures, stateOutput, statesEntered, timesEntered } from './harness';

let h: Harness;
beforeEach(async () => {
  h = await Harness.start();
});
afterEach(async () => {
  await h.stop();
});

const deactivateNow = (orgId: string) =>
  deactivate({ orgId, requestedBy: 'arn:aws:iam::111111111111:user/support' }, {
    store: h.store,
    events: h.cloud.eventBridge<EventBridgeClient>(),
    eventBusName: 'binary-backends-local',
    clock: h.clock.now,
  });

describe('State machine: a deactivation fences running onboardings', () => {
  it('fails a fenced onboarding at Activate with OnboardingFencedError; the org stays on default storage', async () => {
    // Prepare: support deactivates the org while the onboarding verifies the upload
    h.cloud.trustAppliedAt = new Date(0);
    let fencedNames: string[] = [];
    h.beforeTask.VerifyUpload = async (input) => {
      const result = await deactivateNow(String(input.orgId));
      fencedNames = result.fencedOnboardings.map((f) => f.executionName);
    };
    // Act
    const run = await h.run(executionInput());
    // Assess
    expect(fencedNames).toEqual([run.name]);
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('OnboardingFencedError');
    expect(stateFailures(run.events)[0]).toEqual(['Activate', 'OnboardingFencedError']);
    const record = await h.record();
    expect(record.active).toBeUndefined();
    expect(record.backends.prod!.serving).toBeUndefined();
    expect(record.backends.prod!.pending).toMatchObject({ status: 'FAILED', error: { name: 'OnboardingFencedError' } });
    expect(h.cloud.events.map((e) => e.DetailType)).not.toContain('Backend Activated');
  });

  it('re-onboarding after the deactivation activates normally (the new config starts under the new epoch)', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.beforeTask.VerifyUpload = async (input) => {
      await deactivateNow(String(input.orgId));
      delete h.beforeTask.VerifyUpload;
    };
    await h.run(executionInput());
    const again = await h.run(executionInput({ configVersion: 2 }));
    expect(again.status).toBe('SUCCEEDED');
    expect((await h.record()).active).toBe('prod');
  });
});

describe('State machine: a successful activation is never reported as failed', () => {
  it('succeeds, routes the org and sends no Onboarding Failed when Backend Activated cannot be emitted', async () => {
    // Prepare
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.failingEventTypes.add('Backend Activated');
    // Act
    const run = await h.run(executionInput());
    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(statesEntered(run.events).at(-1)).toBe('OnboardingSucceeded');
    expect(timesEntered(run.events, 'RecordFailure')).toBe(0);
    const record = await h.record();
    expect(record.active).toBe('prod');
    expect(record.backends.prod!.serving).toMatchObject({ status: 'ACTIVE', executionArn: run.executionArn });
    expect(h.cloud.events.map((e) => e.DetailType)).not.toContain('Onboarding Failed');
    expect(await h.audit(run.name, 'Activate')).toMatchObject({ detail: { eventEmitted: false } });
  });

  it('ends as a success when Activate failed after its write with an error it does not retry: RecordFailure sees it serving', async () => {
    // Prepare: the first Activate writes, then its runtime dies before answering (not retried, so caught)
    h.cloud.trustAppliedAt = new Date(0);
    h.failAfterTask.Activate = ['Runtime.ExitError'];
    // Act
    const run = await h.run(executionInput());
    // Assess
    expect(timesEntered(run.events, 'RecordFailure')).toBe(1);
    expect(run.status).toBe('SUCCEEDED');
    expect((await h.record()).backends.prod!.pending).toBeUndefined();
    expect((await h.record()).active).toBe('prod');
    expect(h.cloud.events.map((e) => e.DetailType)).not.toContain('Onboarding Failed');
  });

  it('succeeds when Activate timed out after its write: the retried Activate recognises the activation', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.failAfterTask.Activate = ['States.Timeout'];
    const run = await h.run(executionInput());
    expect(run.status).toBe('SUCCEEDED');
    expect(timesEntered(run.events, 'Activate')).toBeGreaterThanOrEqual(1);
    expect(timesEntered(run.events, 'RecordFailure')).toBe(0);
    expect(stateOutput(run.events, 'Activate')?.activation).toMatchObject({ alreadyActive: true });
  });
});

describe('State machine: a role or bucket serves one org only', () => {
  it("fails another org's onboarding of the same bucket at RecordConfig with ClaimedByAnotherOrgError", async () => {
    // Prepare: org B's onboarding of s3://acme-firmware/ is running (waiting for trust) when org A asks for a prefix in it
    const orgB = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
    let runA: Awaited<ReturnType<Harness['run']>> | undefined;
    h.beforeTask.CheckTrust = async () => {
      if (runA) return;
      runA = await h.run(
        executionInput({ upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/OrgARole', prefix: 'firmware/a/' } }),
      );
    };
    // Act
    await h.run(
      executionInput({
        orgId: orgB,
        trustDeadlineSeconds: 3600,
        upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/OrgBRole' },
      }),
    );
    // Assess
    expect(runA?.status).toBe('FAILED');
    expect(runA?.error).toBe('ClaimedByAnotherOrgError');
    expect(stateFailures(runA!.events)[0]).toEqual(['RecordConfig', 'ClaimedByAnotherOrgError']);
    expect((await h.record()).backends.prod?.pending).toBeUndefined();
  });
});
