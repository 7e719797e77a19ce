/**
 * The real statemachine/onboarding.asl.json, executed by aws-local-stepfunctions with every Task bound to
 * its real Lambda handler (harness.ts). Each test asserts on the execution's event log: which states ran,
 * how often CheckTrust looped, which error ended a failed run; and on the records and the customer's bucket.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findSecrets } from './secret-scan';
import {
  Harness,
  ORG_ID,
  issuedSecrets,
  producedArtifacts,
  cloudFrontDownload,
  executionInput,
  stateFailures,
  stateOutput,
  stateRetries,
  statesEntered,
  timesEntered,
  type ExecutionResult,
} from './harness';
import { runtimePrivateKeyPem } from '../fixtures/private-key';
import { remediationFor } from '#shared/errors';

let h: Harness;
beforeEach(async () => {
  h = await Harness.start();
});
afterEach(async () => {
  await h.stop();
});

const HAPPY_PATH = [
  'RecordConfig',
  'CreatePlatformRole',
  'CheckTrust',
  'IsTrusted',
  'VerifyUpload',
  'VerifyDownload',
  'IsCloudFrontDeployed',
  'Cleanup',
  'AfterCleanup',
  'Activate',
  'OnboardingSucceeded',
];

/** The failure path after the state that failed: RecordFailure, then the one Cleanup, then the Fail. */
const FAILURE_TAIL = ['RecordFailure', 'Cleanup', 'AfterCleanup', 'SummarizeFailure', 'OnboardingFailed'];

function expectFailedWith(run: ExecutionResult, error: string): void {
  expect(run.status).toBe('FAILED');
  expect(run.error).toBe(error);
  expect(statesEntered(run.events).slice(-FAILURE_TAIL.length)).toEqual(FAILURE_TAIL);
  expect(run.events.find((e) => e.type === 'StateCaught')).toBeDefined();
  expect(run.events.at(-1)).toMatchObject({ type: 'ExecutionFailed', Error: error });
}

describe('State machine: the happy path', () => {
  it('onboards an S3 backend: every state once, ACTIVE, routing switched, canaries deleted', async () => {
    h.cloud.trustAppliedAt = new Date(0);

    const run = await h.run(executionInput());

    expect(run.status).toBe('SUCCEEDED');
    expect(statesEntered(run.events)).toEqual(HAPPY_PATH);
    const record = await h.record();
    expect(record.active).toBe('prod');
    const serving = record.backends.prod!.serving!;
    expect(serving).toMatchObject({ status: 'ACTIVE', configVersion: 1, executionArn: run.executionArn });
    expect(serving.upload).toMatchObject({ bucket: 'acme-firmware', region: 'eu-west-1', accountId: '222222222222' });
    expect(serving.checks.map((c) => `${c.name}:${c.result}`)).toEqual([
      'bucket-region:PASS',
      'bucket-owner:PASS',
      'canary-put:PASS',
      'canary-multipart:PASS',
      'canary-list:PASS',
      'download-signed:PASS',
      'download-unsigned-refused:SKIP',
    ]);
    expect(stateOutput(run.events, 'Cleanup')?.cleanup).toMatchObject({ outcome: 'cleaned', remaining: [] });
    expect((stateOutput(run.events, 'Cleanup')!.cleanup as { deleted: string[] }).deleted).toHaveLength(2);
    expect(h.cloud.canaryObjects()).toEqual([]);
    expect(h.cloud.calls).toContain('S3.CompleteMultipartUpload');
    expect(h.cloud.calls).not.toContain('S3.AbortMultipartUpload');
    expect(h.cloud.events.map((e) => e.DetailType)).toEqual(['Trust Policy Ready', 'Backend Activated']);
  });

  it('onboards a CloudFront backend: signed download checked, unsigned request refused', async () => {
    h.cloud.trustAppliedAt = new Date(0);

    const run = await h.run(executionInput({ download: cloudFrontDownload(h.cloud.cloudFrontHost) }));

    expect(run.status).toBe('SUCCEEDED');
    expect(statesEntered(run.events)).toEqual(HAPPY_PATH);
    expect(stateOutput(run.events, 'VerifyDownload')?.verifyDownload).toMatchObject({ via: 'cloudfront', unsignedStatus: 403 });
    const serving = (await h.record()).backends.prod!.serving!;
    expect(serving.download).toMatchObject({ type: 'cloudfront', host: h.cloud.cloudFrontHost });
    expect(serving.checks.find((c) => c.name === 'download-unsigned-refused')?.result).toBe('PASS');
    expect(h.cloud.calls.filter((c) => c === `HTTP.GET ${h.cloud.cloudFrontHost}`)).toHaveLength(3);
  });
});

describe('State machine: waiting for the customer', () => {
  it('keeps polling while AssumeRole is denied: denied 4 times then trusted = CheckTrust runs 5 times', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.denyCustomerAssumes = 4;

    const run = await h.run(executionInput());

    expect(run.status).toBe('SUCCEEDED');
    expect(timesEntered(run.events, 'CheckTrust')).toBe(5);
    expect(timesEntered(run.events, 'WaitForTrust')).toBe(4);
    const loop = statesEntered(run.events).slice(2, 2 + 3 * 4);
    expect(loop).toEqual(Array(4).fill(['CheckTrust', 'IsTrusted', 'WaitForTrust']).flat());
    expect((await h.record()).backends.prod!.serving!.attempts).toBe(5);
  });

  it('detects a trust policy applied 20 minutes in within 5 minutes, on the simulated clock', async () => {
    const start = h.clock.now().getTime();
    h.cloud.trustAppliedAt = new Date(start + 20 * 60_000);

    const run = await h.run(executionInput());

    expect(run.status).toBe('SUCCEEDED');
    const detectedAt = Date.parse((await h.record()).backends.prod!.serving!.lastCheckedAt!);
    expect(detectedAt).toBeGreaterThanOrEqual(h.cloud.trustAppliedAt.getTime());
    expect(detectedAt - h.cloud.trustAppliedAt.getTime()).toBeLessThanOrEqual(5 * 60_000);
    expect(timesEntered(run.events, 'CheckTrust')).toBeGreaterThan(3);
  });

  it('fails with TrustPolicyTimeoutError at the deadline, records it, and skips cleanup (nothing was written)', async () => {
    const run = await h.run(executionInput({ trustDeadlineSeconds: 6 * 3600 }));

    expectFailedWith(run, 'TrustPolicyTimeoutError');
    expect(stateFailures(run.events)[0]).toEqual(['CheckTrust', 'TrustPolicyTimeoutError']);
    expect(timesEntered(run.events, 'VerifyUpload')).toBe(0);
    expect(stateOutput(run.events, 'Cleanup')?.cleanup).toMatchObject({ outcome: 'skipped' });
    const record = await h.record();
    expect(record.active).toBeUndefined();
    expect(record.backends.prod!.pending).toMatchObject({ status: 'FAILED', error: { name: 'TrustPolicyTimeoutError' } });
    expect(h.clock.now().getTime() - Date.parse((await h.record()).backends.prod!.pending!.startedAt)).toBeGreaterThanOrEqual(6 * 3600_000);
  });

  it('fails at once with StsRegionDisabledError, not polling for days, when STS is off in the region for the customer account', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.customerStsRegionDisabled = true;

    const run = await h.run(executionInput());

    expectFailedWith(run, 'StsRegionDisabledError');
    expect(timesEntered(run.events, 'CheckTrust')).toBe(1);
    expect((await h.record()).backends.prod!.pending!.error?.remediation).toContain('activate STS');
  });

  it('fails with ExternalIdNotEnforcedError when the trust policy has no external ID condition', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.trustMode = 'no-external-id-condition';

    const run = await h.run(executionInput());

    expectFailedWith(run, 'ExternalIdNotEnforcedError');
    expect(run.cause).toContain('without an external ID');
    expect(timesEntered(run.events, 'VerifyUpload')).toBe(0);
    expect((await h.record()).backends.prod!.pending!.status).toBe('FAILED');
  });

  it('fails with ExternalIdNotEnforcedError when the condition also accepts a wrong external ID', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.trustMode = 'accepts-any-external-id';

    const run = await h.run(executionInput());

    expectFailedWith(run, 'ExternalIdNotEnforcedError');
    expect(run.cause).toContain('with a wrong external ID');
    expect(run.cause).not.toContain('without an external ID');
  });
});

describe('State machine: verification', () => {
  it('fails with BucketWrongRegionError naming the real region', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.buckets.get('acme-firmware')!.region = 'ap-southeast-2';

    const run = await h.run(executionInput());

    expectFailedWith(run, 'BucketWrongRegionError');
    expect(stateFailures(run.events)[0]).toEqual(['VerifyUpload', 'BucketWrongRegionError']);
    expect(run.cause).toContain('ap-southeast-2');
    const pending = (await h.record()).backends.prod!.pending!;
    expect(pending.checks.find((c) => c.name === 'bucket-region')).toMatchObject({ result: 'FAIL' });
    expect(pending.error?.remediation).toContain('region');
  });

  it('on a failed download check leaves routing untouched and still deletes the canaries', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.deniedS3Actions.add('s3:GetObject');

    const run = await h.run(executionInput());

    expectFailedWith(run, 'DownloadVerificationError');
    expect(statesEntered(run.events)).toEqual([...HAPPY_PATH.slice(0, 6), ...FAILURE_TAIL]);
    expect(timesEntered(run.events, 'Activate')).toBe(0);
    const record = await h.record();
    expect(record.active).toBeUndefined();
    expect(record.backends.prod!.serving).toBeUndefined();
    expect(record.backends.prod!.pending).toMatchObject({ status: 'FAILED', error: { name: 'DownloadVerificationError' } });
    expect(stateOutput(run.events, 'Cleanup')?.cleanup).toMatchObject({ outcome: 'cleaned' });
    expect(h.cloud.canaryObjects()).toEqual([]);
    const failed = h.cloud.events.find((e) => e.DetailType === 'Onboarding Failed');
    expect(JSON.parse(failed!.Detail!)).toMatchObject({ errorName: 'DownloadVerificationError', remediation: expect.any(String) });
  });

  it('waits for a CloudFront key group still deploying ("Unknown Key"), with backoff, then succeeds', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.cloudFrontDeployingRequests = 3;

    const run = await h.run(executionInput({ download: cloudFrontDownload(h.cloud.cloudFrontHost) }));

    expect(run.status).toBe('SUCCEEDED');
    expect(timesEntered(run.events, 'VerifyDownload')).toBe(4);
    expect(timesEntered(run.events, 'WaitForCloudFront')).toBe(3);
    const waits = run.events
      .filter((e) => e.type === 'StateEntered' && e.state?.name === 'WaitForCloudFront')
      .map((e) => (e.state!.input as { verifyDownload: { waitSeconds: number } }).verifyDownload.waitSeconds);
    expect(waits).toEqual([30, 60, 120]);
    expect(stateOutput(run.events, 'VerifyDownload')?.verifyDownload).toMatchObject({ via: 'cloudfront', propagating: false, unsignedStatus: 403 });
    expect((await h.record()).backends.prod!.serving!.checks.find((c) => c.name === 'download-signed')?.result).toBe('PASS');
  });

  it('fails with CloudFrontPropagationTimeoutError naming "Unknown Key" when CloudFront never deploys within 20 minutes', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.cloudFrontDeployingRequests = 1_000;
    let firstAt: number | undefined;
    h.beforeTask.VerifyDownload = () => {
      firstAt ??= h.clock.now().getTime();
    };

    const run = await h.run(executionInput({ download: cloudFrontDownload(h.cloud.cloudFrontHost) }));

    expectFailedWith(run, 'CloudFrontPropagationTimeoutError');
    expect(run.cause).toContain('Unknown Key');
    expect(h.clock.now().getTime() - firstAt!).toBeGreaterThanOrEqual(20 * 60_000);
    expect(h.clock.now().getTime() - firstAt!).toBeLessThan(26 * 60_000);
    // 30 + 60 + 120 + 240 + 300 + 300 + 150 s = 20 min: eight attempts, about 9 history events per loop
    expect(timesEntered(run.events, 'VerifyDownload')).toBe(8);
    const pending = (await h.record()).backends.prod!.pending!;
    expect(pending.checks.find((c) => c.name === 'download-signed')).toMatchObject({ result: 'FAIL' });
    expect(pending.error?.remediation).toContain('Unknown Key');
    expect(h.cloud.canaryObjects()).toEqual([]);
  });

  it('fails with CloudFrontSigningNotEnforcedError when the distribution serves unsigned requests', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.cloudFrontEnforcesSigning = false;

    const run = await h.run(executionInput({ download: cloudFrontDownload(h.cloud.cloudFrontHost) }));

    expectFailedWith(run, 'CloudFrontSigningNotEnforcedError');
    expect(h.cloud.canaryObjects()).toEqual([]);
    expect((await h.record()).active).toBeUndefined();
  });

  it('deletes a canary left by a VerifyUpload that failed half-way and returned nothing', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.s3Throttles = { CompleteMultipartUpload: 1000 };
    let beforeCleanup: string[] = [];
    h.beforeTask.Cleanup = () => {
      beforeCleanup = h.cloud.canaryObjects();
    };

    const run = await h.run(executionInput());

    expectFailedWith(run, 'TransientError');
    expect(beforeCleanup).toEqual([`firmware/.peridio-verification/${run.name}/single-put.bin`]);
    expect(stateOutput(run.events, 'VerifyUpload')?.verifyUpload).toBeUndefined();
    const cleanup = stateOutput(run.events, 'Cleanup')?.cleanup as { outcome: string; deleted: string[] };
    expect(cleanup.outcome).toBe('cleaned');
    expect(cleanup.deleted).toContain(`firmware/.peridio-verification/${run.name}/single-put.bin`);
    expect(h.cloud.canaryObjects()).toEqual([]);
  });

  it('fails with StoragePermissionError when the role cannot write, naming s3:PutObject', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.deniedS3Actions.add('s3:PutObject');

    const run = await h.run(executionInput());

    expectFailedWith(run, 'StoragePermissionError');
    expect(run.cause).toContain('s3:PutObject');
    expect(h.cloud.canaryObjects()).toEqual([]);
  });
});

describe('State machine: transient errors', () => {
  it('retries throttling and Lambda service errors with backoff, then succeeds', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.stsThrottles = 1;
    h.cloud.s3Throttles = { PutObject: 2 };
    h.failInvocations.VerifyDownload = ['Lambda.ServiceException'];
    h.failInvocations.Activate = ['Lambda.TooManyRequestsException'];

    const run = await h.run(executionInput());

    expect(run.status).toBe('SUCCEEDED');
    expect(stateFailures(run.events)).toEqual([
      ['CheckTrust', 'TransientError'],
      ['VerifyUpload', 'TransientError'],
      ['VerifyUpload', 'TransientError'],
      ['VerifyDownload', 'Lambda.ServiceException'],
      ['Activate', 'Lambda.TooManyRequestsException'],
    ]);
    expect(stateRetries(run.events)).toEqual([
      ['CheckTrust', 1],
      ['VerifyUpload', 1],
      ['VerifyUpload', 2],
      ['VerifyDownload', 1],
      ['Activate', 1],
    ]);
    expect((await h.record()).active).toBe('prod');
    expect(h.cloud.canaryObjects()).toEqual([]);
  });

  it('fails with TransientError once the retries are spent, keeping that name', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.s3Throttles = { HeadBucket: 100 };

    const run = await h.run(executionInput());

    expectFailedWith(run, 'TransientError');
    expect(stateRetries(run.events).filter(([s]) => s === 'VerifyUpload')).toHaveLength(5);
  });

  it('retries a Lambda that timed out or crashed (Sandbox.Timedout, Lambda.Unknown) and a Task timeout, then succeeds', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.failInvocations.RecordConfig = ['States.Timeout'];
    h.failInvocations.CheckTrust = ['Sandbox.Timedout'];
    h.failInvocations.Activate = ['Lambda.Unknown'];

    const run = await h.run(executionInput());

    expect(run.status).toBe('SUCCEEDED');
    expect(stateRetries(run.events)).toEqual([
      ['RecordConfig', 1],
      ['CheckTrust', 1],
      ['Activate', 1],
    ]);
    expect((await h.record()).active).toBe('prod');
  });

  it('gives up on a step that keeps timing out after a bounded number of retries, keeping the error name', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.failInvocations.VerifyDownload = ['Sandbox.Timedout', 'Sandbox.Timedout', 'Sandbox.Timedout', 'Sandbox.Timedout'];

    const run = await h.run(executionInput());

    expectFailedWith(run, 'Sandbox.Timedout');
    expect(stateRetries(run.events).filter(([s]) => s === 'VerifyDownload')).toHaveLength(2);
    expect((await h.record()).active).toBeUndefined();
  });
});

describe('State machine: re-onboarding and concurrency', () => {
  /** A firmware image in the customer's bucket, under the backend's prefix, for the signer to serve. */
  function putFirmware(): void {
    h.cloud.buckets.get('acme-firmware')!.objects.set('firmware/acme-1.2.3.fw', Buffer.from('firmware v1.2.3'));
  }

  it('keeps the serving config serving while a re-onboarding runs, then swaps it in', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    putFirmware();
    expect((await h.run(executionInput())).status).toBe('SUCCEEDED');
    const during: unknown[] = [];
    h.beforeTask.VerifyDownload = async () => {
      const r = await h.record();
      const device = await h.deviceDownload('acme-1.2.3.fw');
      during.push({
        active: r.active,
        serving: r.backends.prod!.serving!.configVersion,
        pending: r.backends.prod!.pending?.configVersion,
        signedVia: device.response.via,
        fetched: device.status,
      });
    };

    const run = await h.run(executionInput({ configVersion: 2, download: cloudFrontDownload(h.cloud.cloudFrontHost) }));

    expect(run.status).toBe('SUCCEEDED');
    expect(during).toEqual([{ active: 'prod', serving: 1, pending: 2, signedVia: 's3', fetched: 200 }]);
    const serving = (await h.record()).backends.prod!.serving!;
    expect(serving).toMatchObject({ configVersion: 2, status: 'ACTIVE', download: { type: 'cloudfront' } });
    const after = await h.deviceDownload('acme-1.2.3.fw');
    expect(after).toMatchObject({ response: { storage: 'custom', via: 'cloudfront' }, status: 200, body: 'firmware v1.2.3' });
  });

  it('leaves the serving config serving when a re-onboarding fails', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    putFirmware();
    expect((await h.run(executionInput())).status).toBe('SUCCEEDED');
    h.cloud.cloudFrontEnforcesSigning = false;

    const run = await h.run(executionInput({ configVersion: 2, download: cloudFrontDownload(h.cloud.cloudFrontHost) }));

    expectFailedWith(run, 'CloudFrontSigningNotEnforcedError');
    const record = await h.record();
    expect(record.active).toBe('prod');
    expect(record.backends.prod!.serving).toMatchObject({ configVersion: 1, status: 'ACTIVE', download: { type: 's3' } });
    expect(record.backends.prod!.pending).toMatchObject({ configVersion: 2, status: 'FAILED' });
    const device = await h.deviceDownload('acme-1.2.3.fw');
    expect(device).toMatchObject({ response: { storage: 'custom', via: 's3' }, status: 200, body: 'firmware v1.2.3' });
  });

  it('lets the status-change rule end the record of a run whose RecordFailure itself failed (FAILED outside any Catch)', async () => {
    h.cloud.trustAppliedAt = new Date(0);
    h.cloud.s3Throttles = { HeadBucket: 100 };
    h.failInvocations.RecordFailure = Array(7).fill('Lambda.ServiceException');

    const run = await h.run(executionInput());

    expectFailedWith(run, 'TransientError');
    expect((await h.record()).backends.prod!.pending!.status).toBe('VERIFYING');
    await expect(h.statusChange(run.executionArn, 'FAILED', run.error)).resolves.toMatchObject({ marked: true });
    expect((await h.record()).backends.prod!.pending).toMatchObject({
      status: 'FAILED',
      error: { name: 'ExecutionFailed', remediation: remediationFor('TransientError') },
    });
  });

  it('does not let a holder that stopped outside any Catch block the next onboarding', async () => {
    const first = h.start(executionInput());
    h.beforeTask.CheckTrust = (_input, execution) => {
      if (execution === first && h.invocations.get(first.name)?.CheckTrust === 2) execution.abort();
    };
    const stopped = await first.done;
    expect(stopped.status).toBe('ABORTED');
    expect(stopped.events.at(-1)?.type).toBe('ExecutionAborted');
    expect(timesEntered(stopped.events, 'RecordFailure')).toBe(0);
    expect((await h.record()).backends.prod!.pending).toMatchObject({ configVersion: 1, status: 'AWAITING_TRUST' });
    h.cloud.trustAppliedAt = new Date(0);

    const next = await h.run(executionInput({ configVersion: 2 }));

    expect(next.status).toBe('SUCCEEDED');
    expect(statesEntered(next.events)).toEqual(HAPPY_PATH);
    expect((await h.record()).backends.prod!.serving).toMatchObject({ configVersion: 2, status: 'ACTIVE' });
    expect(await h.audit(stopped.name, 'Abandoned')).toMatchObject({ detail: { status: 'ABANDONED', executionStatus: 'ABORTED' } });
  });

  it('lets the status-change rule mark an aborted holder ABANDONED, and the next onboarding proceeds', async () => {
    const first = h.start(executionInput());
    h.beforeTask.CheckTrust = (_input, execution) => {
      if (execution === first) execution.abort();
    };
    expect((await first.done).status).toBe('ABORTED');

    expect(await h.statusChange(first.arn, 'ABORTED')).toMatchObject({ marked: true });
    expect((await h.record()).backends.prod!.pending).toMatchObject({ configVersion: 1, status: 'ABANDONED' });
    h.cloud.trustAppliedAt = new Date(0);
    const next = await h.run(executionInput({ configVersion: 2 }));

    expect(next.status).toBe('SUCCEEDED');
    expect(statesEntered(next.events)).toEqual(HAPPY_PATH);
  });

  it('refuses a second onboarding while the first is still running, naming it', async () => {
    let second: ExecutionResult | undefined;
    const first = h.start(executionInput());
    h.beforeTask.CheckTrust = async (_input, execution) => {
      if (execution === first && !second) {
        second = await h.run(executionInput({ configVersion: 2 }));
        h.cloud.trustAppliedAt = new Date(0);
      }
    };

    expect((await first.done).status).toBe('SUCCEEDED');
    expectFailedWith(second!, 'OnboardingInProgressError');
    expect(second!.cause).toContain(first.name);
    const record = await h.record();
    expect(record.backends.prod!.serving).toMatchObject({ configVersion: 1, executionArn: first.arn });
  });
});

describe('State machine: starting through the starter', () => {
  /** A gate CheckTrust waits at, so the first execution is still RUNNING while the next submits arrive. */
  function holdFirstCheck() {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    h.beforeTask.CheckTrust = async () => {
      await gate;
    };
    return () => {
      h.cloud.trustAppliedAt = new Date(0);
      open();
    };
  }

  const request = () => {
    const { configVersion: _v, ...rest } = executionInput();
    return rest;
  };

  it('gives one execution for a double start of the same request', async () => {
    const release = holdFirstCheck();

    const [a, b] = await Promise.all([h.starter(request()), h.starter(request())]);
    const c = await h.starter(request());

    expect(h.executions.size).toBe(1);
    expect(new Set([a.executionArn, b.executionArn, c.executionArn]).size).toBe(1);
    expect([a, b, c].filter((r) => !r.deduplicated)).toHaveLength(1);
    expect(a.executionName).toBe(`${ORG_ID}-prod-1`);
    release();
    const run = await [...h.executions.values()][0]!.done;
    expect(run.status).toBe('SUCCEEDED');
    expect(timesEntered(run.events, 'RecordConfig')).toBe(1);
    expect((await h.record()).backends.prod!.serving).toMatchObject({ configVersion: 1, status: 'ACTIVE' });
  });

  it('refuses a different request while one runs, naming the running execution', async () => {
    const release = holdFirstCheck();
    const first = await h.starter(request());

    await expect(h.starter({ ...request(), upload: { ...(request().upload as object), prefix: 'other/' } })).rejects.toMatchObject({
      name: 'OnboardingInProgressError',
      message: expect.stringContaining(first.executionName),
    });
    expect(h.executions.size).toBe(1);
    release();
    const run = await [...h.executions.values()][0]!.done;
    expect(run.status).toBe('SUCCEEDED');
    expect(statesEntered(run.events)).toEqual(HAPPY_PATH);
  });

  it('starts a new configVersion (a new execution name) after a failed run', async () => {
    const failed = await h.starter({ ...request(), trustDeadlineSeconds: 3600 });
    expectFailedWith(await h.executions.get(failed.executionArn)!.done, 'TrustPolicyTimeoutError');
    h.cloud.trustAppliedAt = new Date(0);

    const retry = await h.starter(request());

    expect(retry.executionName).not.toBe(failed.executionName);
    expect(retry.configVersion).toBe(failed.configVersion + 1);
    const run = await h.executions.get(retry.executionArn)!.done;
    expect(run.status).toBe('SUCCEEDED');
    expect(statesEntered(run.events)).toEqual(HAPPY_PATH);
  });
});

// Runs last (vitest runs a file's tests in order): everything the tests above produced, scanned at once.
describe('Secret scan of everything the state-machine tests produced', () => {
  it('finds the secrets it is meant to find (the scanner works)', () => {
    const pem = runtimePrivateKeyPem();
    expect(findSecrets({ a: { secretAccessKey: 'x' } }).map((f) => f.kind)).toEqual(['secret-field']);
    expect(findSecrets(['IQoJb3JpZ2luX2VjEBoaCXVzLWVhc3QtMSJHMEUCIQ']).map((f) => f.kind)).toEqual(['session-token']);
    expect(findSecrets({ note: pem }).map((f) => f.kind)).toContain('pem');
    expect(findSecrets({ note: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }, ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']).map((f) => f.kind)).toEqual(['issued-secret']);
    expect(findSecrets({ privateKeySecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:x', accessKeyId: 'ASIA...' })).toEqual([]);
  });

  it('finds no PEM block, secret access key or session token in any execution input, output, event, record or event bus entry', () => {
    expect(producedArtifacts.length).toBeGreaterThan(15);
    expect(issuedSecrets.length).toBeGreaterThan(15);
    const events = producedArtifacts.flatMap((a) => ((a as { events?: unknown[] }).events ?? []) as { type?: string }[]);
    expect(events.filter((e) => e.type === 'StateEntered').length).toBeGreaterThan(100);

    expect(findSecrets(producedArtifacts, issuedSecrets)).toEqual([]);
  });
});
