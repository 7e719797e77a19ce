/**
 * The trust deadline is capped so that the worst-case execution history stays under Step Functions'
 * 25,000 events. The worst case is computed here from CheckTrust's own schedule function (trustWaitSeconds)
 * and the bench's events-per-loop conversion, not from a hard-coded figure.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { trustWaitSeconds } from '../../functions/onboarding/check-trust/check-trust';
import { ValidationError } from '#shared/errors';
import {
  HISTORY_EVENT_LIMIT,
  HISTORY_EVENTS_OUTSIDE_LOOP,
  HISTORY_EVENTS_PER_RETRY,
  HISTORY_EVENTS_PER_TRUST_LOOP,
  MAX_TRUST_DEADLINE_SECONDS,
  TRUST_LOOP_RETRY_EVENTS_PER_POLL,
} from '#shared/trust-schedule';
import { parseOnboardingRequest, TRUST_DEADLINE } from '#shared/validation';
import { awsFigures } from '../statemachine/aws-history';
import type { LoggedEvent } from '../statemachine/harness';
import { CUSTOMER_ROLE_ARN, ORG_ID } from './helpers/fixtures';

const DAY = 86_400;

/** CheckTrust runs for a customer who never applies the policy, step by step through the real schedule. */
function checksUntilDeadline(deadlineSeconds: number): number {
  let elapsed = 0;
  let checks = 0;
  for (let attempt = 1; ; attempt += 1) {
    checks += 1;
    const left = deadlineSeconds - elapsed;
    if (left <= 0) return checks;
    elapsed += trustWaitSeconds(elapsed, attempt, left);
  }
}

const entered = (name: string, type: string): LoggedEvent => ({ type: 'StateEntered', state: { name, type } });
/** The bench's conversion of one Wait -> CheckTrust -> Choice loop into AWS history events. */
const benchEventsPerLoop = (() => {
  const loop = [entered('WaitForTrust', 'Wait'), entered('CheckTrust', 'Task'), entered('IsTrusted', 'Choice')];
  return awsFigures([...loop, ...loop]).historyEvents - awsFigures(loop).historyEvents;
})();
const benchEventsPerRetry =
  awsFigures([entered('X', 'Task'), { type: 'StateRetried', state: { name: 'X', type: 'Task' }, retry: { attempt: 1 } }]).historyEvents -
  awsFigures([entered('X', 'Task')]).historyEvents;

function worstCase(deadlineSeconds: number): number {
  const perPoll = benchEventsPerLoop + TRUST_LOOP_RETRY_EVENTS_PER_POLL * benchEventsPerRetry / HISTORY_EVENTS_PER_RETRY;
  return checksUntilDeadline(deadlineSeconds) * perPoll + HISTORY_EVENTS_OUTSIDE_LOOP;
}

function request(trustDeadlineSeconds: unknown) {
  return {
    orgId: ORG_ID,
    roleName: 'prod',
    upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN },
    trustDeadlineSeconds,
  };
}

describe('Trust deadline cap', () => {
  it('uses the bench\'s history conversion: 9 events per poll loop, 3 per retry', () => {
    expect(HISTORY_EVENTS_PER_TRUST_LOOP).toBe(benchEventsPerLoop);
    expect(HISTORY_EVENTS_PER_RETRY).toBe(benchEventsPerRetry);
  });

  it('keeps the worst case at the cap under 25,000 history events, and a day more would not fit', () => {
    expect(HISTORY_EVENT_LIMIT).toBe(25_000);
    expect(MAX_TRUST_DEADLINE_SECONDS % DAY).toBe(0);
    expect(worstCase(MAX_TRUST_DEADLINE_SECONDS)).toBeLessThanOrEqual(25_000);
    expect(worstCase(MAX_TRUST_DEADLINE_SECONDS + DAY)).toBeGreaterThan(25_000);
    // And far more than the default 7 days, which stays around 2,400 events.
    expect(MAX_TRUST_DEADLINE_SECONDS).toBeGreaterThan(30 * DAY);
    expect(TRUST_DEADLINE.max).toBe(MAX_TRUST_DEADLINE_SECONDS);
  });

  it('reserves enough for every state outside the trust loop with all its retries spent', () => {
    const asl = JSON.parse(readFileSync('statemachine/onboarding.asl.json', 'utf8')) as {
      States: Record<string, { Type: string; Retry?: { MaxAttempts?: number }[] }>;
    };
    let events = 2; // ExecutionStarted, ExecutionSucceeded/Failed
    for (const [name, state] of Object.entries(asl.States)) {
      if (['CheckTrust', 'WaitForTrust', 'IsTrusted'].includes(name)) continue;
      if (state.Type === 'Task') {
        const retries = (state.Retry ?? []).reduce((n, r) => n + (r.MaxAttempts ?? 3), 0);
        events += 5 + retries * benchEventsPerRetry;
      } else {
        events += 2;
      }
    }
    // Cleanup runs on both paths, so count Tasks twice at most; the reserve must still hold.
    expect(events * 2).toBeLessThanOrEqual(HISTORY_EVENTS_OUTSIDE_LOOP);
  });

  it('refuses a longer trustDeadlineSeconds with a ValidationError naming the field and the cap', () => {
    let error: unknown;
    try {
      parseOnboardingRequest(request(MAX_TRUST_DEADLINE_SECONDS + 1));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toContain('trustDeadlineSeconds');
    expect((error as ValidationError).message).toContain(`at most ${MAX_TRUST_DEADLINE_SECONDS}`);
    expect((error as ValidationError).message).toContain('25,000');
  });

  it('accepts the cap itself', () => {
    expect(parseOnboardingRequest(request(MAX_TRUST_DEADLINE_SECONDS)).trustDeadlineSeconds).toBe(MAX_TRUST_DEADLINE_SECONDS);
  });
});
