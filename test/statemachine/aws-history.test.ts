import { describe, expect, it } from 'vitest';
import { awsFigures, transitionCostUsd } from './aws-history';
import type { LoggedEvent } from './harness';

const entered = (name: string, type: string): LoggedEvent => ({ type: 'StateEntered', state: { name, type } });
const retried = (name: string): LoggedEvent => ({ type: 'StateRetried', state: { name, type: 'Task' }, retry: { attempt: 1 } });

describe('Function: awsFigures (local event log -> AWS history events and transitions)', () => {
  it('counts 9 history events and 3 transitions per Wait -> CheckTrust -> Choice loop', () => {
    const loop = [entered('WaitForTrust', 'Wait'), entered('CheckTrust', 'Task'), entered('IsTrusted', 'Choice')];
    const one = awsFigures(loop);
    const ten = awsFigures(Array(10).fill(loop).flat());

    expect(ten.historyEvents - one.historyEvents).toBe(9 * 9);
    expect(ten.stateTransitions - one.stateTransitions).toBe(9 * 3);
  });

  it('counts 3 history events and 1 billed transition per retry, and 2 for the execution itself', () => {
    expect(awsFigures([])).toEqual({ stateTransitions: 0, historyEvents: 2, retries: 0 });
    expect(awsFigures([entered('VerifyUpload', 'Task'), retried('VerifyUpload')])).toEqual({ stateTransitions: 2, historyEvents: 2 + 5 + 3, retries: 1 });
  });

  it('prices transitions at $0.025 per 1,000', () => {
    expect(transitionCostUsd(1000)).toBeCloseTo(0.025, 10);
  });
});
