/**
 * CheckTrust's polling schedule, and the longest trust deadline that schedule allows before an execution
 * could hit Step Functions' 25,000-event history limit (which FAILS the execution; aws-facts.md section 5).
 * Import-free, so rules.ts (and through it the signer) can use it: the cap below costs well under a
 * millisecond to compute at start.
 */

/** First wait after the policy is sent, doubled per attempt up to the current cap. */
export const FIRST_WAIT_SECONDS = 30;

/**
 * The cap on the wait, growing with the time since the trust policy was sent: <= 5 min for the first 2 h,
 * <= 15 min until 24 h, <= 60 min after. Keeps detection fast while the customer is likely at the console,
 * and a 7-day wait within ~270 polls (~2,400 history events, ~800 transitions).
 */
export function waitCapSeconds(elapsedSeconds: number): number {
  if (elapsedSeconds < 2 * 3600) return 300;
  if (elapsedSeconds < 24 * 3600) return 900;
  return 3600;
}

/**
 * Seconds until the next check: exponential from FIRST_WAIT_SECONDS by attempt, capped by
 * `waitCapSeconds(elapsed)`, and never past the deadline. At least 1.
 */
export function trustWaitSeconds(elapsedSeconds: number, attempt: number, secondsToDeadline: number): number {
  const backoff = FIRST_WAIT_SECONDS * 2 ** Math.min(Math.max(attempt - 1, 0), 20);
  const wait = Math.min(backoff, waitCapSeconds(elapsedSeconds), Math.ceil(secondsToDeadline));
  return Math.max(1, Math.floor(wait));
}

// ---------------------------------------------------------------------------------------------
// History budget
// ---------------------------------------------------------------------------------------------

/** Step Functions Standard's history limit; reaching it fails the execution. */
export const HISTORY_EVENT_LIMIT = 25_000;
/**
 * AWS history events per Wait -> CheckTrust -> Choice loop: Wait 2 + Lambda Task 5 + Choice 2. The same
 * figure the workflow bench converts with (test/statemachine/aws-history.ts; a test keeps them equal).
 */
export const HISTORY_EVENTS_PER_TRUST_LOOP = 9;
/** Events one Task retry adds (TaskFailed, TaskScheduled, TaskStarted). */
export const HISTORY_EVENTS_PER_RETRY = 3;
/**
 * Reserved for every state outside the trust loop, each with all its retries spent, and for states added
 * later (an approval wait). A test checks the ASL's current states fit in it.
 */
export const HISTORY_EVENTS_OUTSIDE_LOOP = 1_000;
/** Reserved for retries inside the loop: one CheckTrust retry in every 3 polls (3 events per retry). */
export const TRUST_LOOP_RETRY_EVENTS_PER_POLL = 1;

/**
 * How many times CheckTrust runs, at most, for a trust deadline of `deadlineSeconds`: the schedule above
 * from the moment the policy is sent (worst case: sent the instant the execution started), counting the
 * last check, which finds the deadline passed and fails with TrustPolicyTimeoutError.
 */
export function worstCaseTrustChecks(deadlineSeconds: number): number {
  let elapsed = 0;
  let checks = 0;
  for (let attempt = 1; ; attempt += 1) {
    checks += 1;
    const left = deadlineSeconds - elapsed;
    if (left <= 0) return checks;
    // After the first day every wait is the 1-hour cap: finish in closed form rather than loop for months.
    if (elapsed >= 24 * 3600 && trustWaitSeconds(elapsed, attempt, Number.MAX_SAFE_INTEGER) === 3600) {
      return checks + Math.ceil(left / 3600);
    }
    elapsed += trustWaitSeconds(elapsed, attempt, left);
  }
}

/** The worst-case AWS history of one onboarding whose trust wait runs to `deadlineSeconds`. */
export function worstCaseHistoryEvents(deadlineSeconds: number): number {
  const checks = worstCaseTrustChecks(deadlineSeconds);
  const perCheck = HISTORY_EVENTS_PER_TRUST_LOOP + TRUST_LOOP_RETRY_EVENTS_PER_POLL;
  return checks * perCheck + HISTORY_EVENTS_OUTSIDE_LOOP;
}

/** The largest whole number of days whose worst-case history stays within the limit, in seconds. */
export function maxTrustDeadlineSeconds(limit = HISTORY_EVENT_LIMIT): number {
  let lo = 1; // days known to fit
  let hi = 366; // days known not to fit, or past Step Functions' 1-year execution limit
  if (worstCaseHistoryEvents(lo * 86_400) > limit) return 0;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (worstCaseHistoryEvents(mid * 86_400) <= limit) lo = mid;
    else hi = mid;
  }
  return lo * 86_400;
}

/** The cap on `trustDeadlineSeconds` (see maxTrustDeadlineSeconds). */
export const MAX_TRUST_DEADLINE_SECONDS = /* @__PURE__ */ maxTrustDeadlineSeconds();
