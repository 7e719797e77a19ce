/**
 * The ASL and errors.ts must agree: Step Functions matches Retry/Catch on the literal error name, so a
 * renamed class or a typo in the ASL silently turns a terminal outcome into "States.ALL" (or worse, a
 * retry into a failure). These checks keep both files honest.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_NAMES, NOT_RAISED_BY_WORKFLOW } from '#shared/errors';
import { FUNCTIONS as CATALOG } from '../../functions/catalog.cjs';

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}
interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string;
}
interface State {
  Type: string;
  Resource?: unknown;
  Retry?: Retrier[];
  Catch?: Catcher[];
  Next?: string;
  Default?: string;
  Choices?: { Next: string }[];
  ErrorPath?: string;
  Parameters?: Record<string, unknown>;
  ResultPath?: string | null;
  Result?: { Error?: string; Cause?: string };
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
}
interface Definition {
  StartAt: string;
  States: Record<string, State>;
}

const definition = JSON.parse(readFileSync('statemachine/onboarding.asl.json', 'utf8')) as Definition;
const states = Object.entries(definition.States);
const tasks = states.filter(([, s]) => s.Type === 'Task');

const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
];

/** Task state -> the function key behind it, from the function catalog (functions/catalog.cjs, `task`). */
const TASK_FUNCTION_KEYS: Record<string, string> = Object.fromEntries(CATALOG.flatMap((f) => (f.task ? [[f.task, f.key]] : [])));

/** The Task states operators and the docs rely on by name (DESIGN, docs/workflow.md). */
const OPERATOR_TASK_STATES = [
  'RecordConfig',
  'CreatePlatformRole',
  'CheckTrust',
  'VerifyUpload',
  'VerifyDownload',
  'Cleanup',
  'Activate',
  'RecordFailure',
  'RequestApproval',
];

/** What a Lambda that ran out of time or crashed looks like to Step Functions, and a Task's own timeout. */
const TIMEOUT_ERRORS = ['Sandbox.Timedout', 'Lambda.Unknown', 'States.Timeout'];

/**
 * Per Task: may a step that timed out or crashed (possibly after doing part or all of its work, possibly
 * still running) simply run again? docs/workflow.md "Timeouts and retries" says why for each. A new Task
 * must be added here on purpose: an approval wait, for example, must NOT retry States.Timeout (that is its
 * expiry).
 */
const SAFE_TO_REPEAT: Record<string, boolean> = {
  RecordConfig: true, // a retry finds its own pending config (same executionArn) and returns the context
  CreatePlatformRole: true, // creates or adopts the role; policy and trust-policy writes are overwrites
  CheckTrust: true, // AssumeRole probes are reads; the attempt record is an overwrite, the audit item attribute_not_exists
  VerifyUpload: true, // canaries live under a per-execution key, so a second put overwrites the first
  VerifyDownload: true, // reads only
  Cleanup: true, // deletes of this execution's canaries; deleting twice is a no-op
  Activate: true, // activatePending recognises this execution's own earlier success (alreadyActive)
  RecordFailure: true, // one write conditioned on executionArn; writing FAILED twice is the same write
  // A task-token wait (the approval branch): its States.Timeout IS the approval's expiry, and a re-run would
  // hand out a second token while the first may still be answered. Never retried on a timeout.
  RequestApproval: false,
};

/** Tasks that wait for a task token (`lambda:invoke.waitForTaskToken`), with their function in Parameters. */
const TOKEN_WAIT_TASKS = ['RequestApproval'];

/** Error names Pass states put at $.error (a wait's States.Timeout renamed to a named error). */
function namesSetByPassStates(): string[] {
  return states.filter(([, s]) => s.Type === 'Pass' && s.ResultPath === '$.error').map(([, s]) => s.Result?.Error ?? '');
}

function allErrorNames(): string[] {
  return states.flatMap(([, s]) => [...(s.Retry ?? []), ...(s.Catch ?? [])].flatMap((r) => r.ErrorEquals));
}

describe('Contract: statemachine/onboarding.asl.json', () => {
  it('has every state name operators rely on', () => {
    for (const name of [...OPERATOR_TASK_STATES, 'WaitForTrust', 'ExpireApproval']) {
      expect(definition.States[name], name).toBeDefined();
    }
    expect(definition.StartAt).toBe('RecordConfig');
    expect(definition.States.WaitForTrust).toMatchObject({ Type: 'Wait', SecondsPath: '$.trust.waitSeconds', Next: 'CheckTrust' });
  });

  it('names only errors that exist in errors.ts (besides States.* and Lambda.*)', () => {
    const custom = [...allErrorNames(), ...namesSetByPassStates()].filter((n) => !n.startsWith('States.') && !n.startsWith('Lambda.') && !n.startsWith('Sandbox.'));
    const known = new Set<string>(ERROR_NAMES);
    expect(custom.filter((n) => !known.has(n))).toEqual([]);
  });

  it('handles every error the workflow can raise, by its literal name (or raises it in a Pass state)', () => {
    const handled = new Set([...allErrorNames(), ...namesSetByPassStates()]);
    const missing = ERROR_NAMES.filter((n) => !NOT_RAISED_BY_WORKFLOW.includes(n)).filter((n) => !handled.has(n));
    expect(missing).toEqual([]);
  });

  it('gives every Task a plain function ARN of a known function key', () => {
    expect(tasks.map(([name]) => name).sort()).toEqual(Object.keys(TASK_FUNCTION_KEYS).sort());
    for (const [name, state] of tasks.filter(([n]) => !TOKEN_WAIT_TASKS.includes(n))) {
      expect(state.Resource, name).toEqual({ 'Fn::GetAtt': [TASK_FUNCTION_KEYS[name], 'Arn'] });
    }
  });

  it('waits for approval with a task token: the function in Parameters, the token in its Payload, a configurable timeout', () => {
    for (const name of TOKEN_WAIT_TASKS) {
      const state = definition.States[name]!;
      expect(state.Resource, name).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
      expect(state.Parameters, name).toEqual({
        FunctionName: { 'Fn::GetAtt': [TASK_FUNCTION_KEYS[name], 'Arn'] },
        Payload: { 'taskToken.$': '$$.Task.Token', 'input.$': '$' },
      });
      expect(state.TimeoutSecondsPath, name).toBe('$.approval.timeoutSeconds');
      // A retried wait would ask for approval again: the wait's own timeout is never retried.
      expect((state.Retry ?? []).flatMap((r) => r.ErrorEquals)).not.toContain('States.Timeout');
    }
    const request = definition.States.RequestApproval!;
    expect(request.Catch![0]).toEqual({ ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'ExpireApproval' });
    expect(request.Catch!.flatMap((c) => c.ErrorEquals)).toContain('ApprovalRejectedError');
    expect(request.Next).toBe('Activate');
    expect(definition.States.ExpireApproval).toMatchObject({ Type: 'Pass', ResultPath: '$.error', Result: { Error: 'ApprovalExpiredError' }, Next: 'RecordFailure' });
  });

  it('goes to RequestApproval before Activate only when RecordConfig planned it, and never after an error or an activation RecordFailure recognised', () => {
    const after = definition.States.AfterCleanup!;
    expect(after.Choices).toEqual([
      { Variable: '$.failure.activatedAt', IsPresent: true, Next: 'OnboardingSucceeded' },
      { Variable: '$.error', IsPresent: true, Next: 'SummarizeFailure' },
      { Variable: '$.approval.required', BooleanEquals: true, Next: 'RequestApproval' },
    ]);
    expect(after.Default).toBe('Activate');
  });

  it('bounds every Task with a TimeoutSeconds within Lambda\'s 900 s (the local runner defaults to 60 s)', () => {
    for (const [name, state] of tasks.filter(([n]) => !TOKEN_WAIT_TASKS.includes(n))) {
      const timeout = (state as { TimeoutSeconds?: number }).TimeoutSeconds;
      expect(timeout, name).toBeGreaterThanOrEqual(1);
      expect(timeout, name).toBeLessThanOrEqual(900);
    }
  });

  it('retries Lambda service errors with backoff and full jitter on every Task', () => {
    for (const [name, state] of tasks) {
      const retrier = state.Retry?.find((r) => LAMBDA_SERVICE_ERRORS.every((e) => r.ErrorEquals.includes(e)));
      expect(retrier, `${name} retries Lambda service errors`).toBeDefined();
      expect(retrier!.BackoffRate ?? 2, name).toBeGreaterThan(1);
      expect(retrier!.JitterStrategy, name).toBe('FULL');
      expect(retrier!.MaxAttempts ?? 3, name).toBeGreaterThan(0);
    }
  });

  it('retries TransientError with backoff and full jitter on every Task except Cleanup (which never throws it)', () => {
    for (const [name, state] of tasks.filter(([n]) => n !== 'Cleanup')) {
      const retrier = state.Retry?.find((r) => r.ErrorEquals.includes('TransientError'));
      expect(retrier, `${name} retries TransientError`).toBeDefined();
      expect(retrier!.JitterStrategy, name).toBe('FULL');
      expect(retrier!.BackoffRate ?? 2, name).toBeGreaterThan(1);
    }
  });

  it('decides for every Task whether a timed-out or crashed run may be repeated', () => {
    expect(tasks.map(([name]) => name).filter((name) => !(name in SAFE_TO_REPEAT))).toEqual([]);
  });

  it.each(Object.entries(SAFE_TO_REPEAT).filter(([name]) => definition.States[name]))('%s (safe to repeat: %s) retries Sandbox.Timedout, Lambda.Unknown and States.Timeout only if safe, bounded, with backoff and full jitter', (name, safe) => {
    const state = definition.States[name]!;
    const mentioned = (state.Retry ?? []).flatMap((r) => r.ErrorEquals).filter((e) => TIMEOUT_ERRORS.includes(e));
    if (!safe) {
      expect(mentioned, `${name} must not repeat a run that may have half-happened`).toEqual([]);
      return;
    }
    for (const error of TIMEOUT_ERRORS) {
      const retriers = (state.Retry ?? []).filter((r) => r.ErrorEquals.includes(error));
      expect(retriers, `${name} retries ${error} exactly once in its Retry list`).toHaveLength(1);
      const r = retriers[0]!;
      expect(r.MaxAttempts ?? 3, `${name} ${error} MaxAttempts`).toBeGreaterThan(0);
      expect(r.MaxAttempts ?? 3, `${name} ${error} MaxAttempts`).toBeLessThanOrEqual(3);
      expect(r.BackoffRate ?? 2, `${name} ${error} BackoffRate`).toBeGreaterThan(1);
      expect(r.IntervalSeconds ?? 1, `${name} ${error} IntervalSeconds`).toBeGreaterThanOrEqual(1);
      expect(r.MaxDelaySeconds, `${name} ${error} MaxDelaySeconds`).toBeGreaterThan(0);
      expect(r.JitterStrategy, `${name} ${error} JitterStrategy`).toBe('FULL');
    }
  });

  it('never retries a terminal error', () => {
    const terminal = new Set<string>(ERROR_NAMES.filter((n) => n !== 'TransientError'));
    for (const [name, state] of tasks) {
      for (const r of state.Retry ?? []) {
        expect(r.ErrorEquals.filter((e) => terminal.has(e) || e === 'States.ALL'), name).toEqual([]);
      }
    }
  });

  it('routes every caught error of a step to RecordFailure, keeping the input and the error under $.error', () => {
    const steps = tasks.filter(([n]) => n !== 'RecordFailure' && n !== 'Cleanup');
    for (const [name, state] of steps) {
      expect(state.Catch?.length, name).toBeGreaterThan(0);
      for (const c of state.Catch ?? []) {
        // The approval wait's States.Timeout goes through ExpireApproval, which renames it and goes on to RecordFailure.
        const next = TOKEN_WAIT_TASKS.includes(name) && c.ErrorEquals.includes('States.Timeout') ? 'ExpireApproval' : 'RecordFailure';
        expect(c, name).toMatchObject({ Next: next, ResultPath: '$.error' });
      }
      expect(state.Catch!.at(-1)!.ErrorEquals, `${name} ends with States.ALL`).toEqual(['States.ALL']);
    }
  });

  it('runs Cleanup on both paths and never lets RecordFailure or Cleanup overwrite the original error', () => {
    const rf = definition.States.RecordFailure!;
    expect(rf.Next).toBe('Cleanup');
    expect(rf.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.recordFailureError', Next: 'Cleanup' }]);
    // VerifyDownload -> IsCloudFrontDeployed (-> WaitForCloudFront -> VerifyDownload while CloudFront deploys) -> Cleanup
    expect(definition.States.VerifyDownload!.Next).toBe('IsCloudFrontDeployed');
    expect(definition.States.IsCloudFrontDeployed).toMatchObject({ Type: 'Choice', Default: 'Cleanup' });
    expect(definition.States.IsCloudFrontDeployed!.Choices![0]!.Next).toBe('WaitForCloudFront');
    expect(definition.States.WaitForCloudFront).toMatchObject({ Type: 'Wait', SecondsPath: '$.verifyDownload.waitSeconds', Next: 'VerifyDownload' });
    const cleanup = definition.States.Cleanup!;
    expect(cleanup.Catch?.[0]?.ResultPath).not.toBe('$.error');
    const after = definition.States[cleanup.Next!]!;
    expect(after.Type).toBe('Choice');
    // The caught error, Cause or not, becomes the Fail's cause as JSON (test/statemachine/fail-state.test.ts).
    const choices = after.Choices as unknown as { Variable?: string; Next: string }[];
    const summary = definition.States[choices.find((c) => c.Variable === '$.error')!.Next]!;
    expect(summary).toMatchObject({
      Type: 'Pass',
      Parameters: { 'Error.$': '$.error.Error', 'Cause.$': 'States.JsonToString($.error)' },
      ResultPath: '$.failureSummary',
    });
    const failState = definition.States[summary.Next!]!;
    expect(failState).toMatchObject({ Type: 'Fail', ErrorPath: '$.failureSummary.Error', CausePath: '$.failureSummary.Cause' });
    expect(after.Default).toBe('Activate');
  });

  it('ends as a success, before the failure check, when RecordFailure found the config already activated by this execution', () => {
    const after = definition.States.AfterCleanup! as unknown as { Choices: Record<string, unknown>[] };
    // IsPresent only: comparing a path that is missing (RecordFailure itself failed) would be States.Runtime in AWS.
    expect(after.Choices[0]).toEqual({ Variable: '$.failure.activatedAt', IsPresent: true, Next: 'OnboardingSucceeded' });
    expect(definition.States.OnboardingSucceeded!.Type).toBe('Succeed');
  });

  it('passes the execution ARN and name to RecordConfig, which returns the whole context', () => {
    expect(definition.States.RecordConfig!.Parameters).toEqual({
      'input.$': '$',
      'executionArn.$': '$$.Execution.Id',
      'executionName.$': '$$.Execution.Name',
    });
    // No ResultPath means "$" (the result replaces the input). An explicit "$" is equivalent in AWS, but
    // aws-local-stepfunctions 3.0.0 then adds a key literally named "$" instead, so it must stay absent.
    expect('ResultPath' in definition.States.RecordConfig!).toBe(false);
  });
});
