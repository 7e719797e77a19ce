/**
 * The failure tail of the real ASL (SummarizeFailure -> OnboardingFailed), run alone with
 * aws-local-stepfunctions: whatever the Catch caught, with or without a Cause, the execution fails with the
 * original error name, and its cause carries the whole caught error.
 */
import { readFileSync } from 'node:fs';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';

const asl = JSON.parse(readFileSync(new URL('../../statemachine/onboarding.asl.json', import.meta.url), 'utf8')) as StateMachineDefinition;

/** The states the AfterCleanup choice leads to on the failure path, as a machine of their own. */
function failureTail(): StateMachine {
  const choice = asl.States.AfterCleanup as unknown as { Choices: { Variable?: string; Next: string }[] };
  // The rule on `$.error` (the first rule ends an already-activated run as a success instead).
  const start = choice.Choices.find((c) => c.Variable === '$.error')!.Next;
  const states: Record<string, unknown> = {};
  for (let name: string | undefined = start; name; ) {
    const state = asl.States[name] as unknown as { Next?: string; Type: string };
    states[name] = state;
    name = state.Next;
  }
  return new StateMachine({ StartAt: start, States: states } as StateMachineDefinition);
}

async function fail(error: Record<string, string>): Promise<{ name: string; cause: unknown }> {
  const { result } = failureTail().run({ orgId: 'o', error });
  try {
    await result;
  } catch (err) {
    // aws-local-stepfunctions throws an ExecutionError whose `cause` is the Fail state's error: its name is
    // the Fail's Error and its message the Fail's Cause.
    const failed = (err as Error & { cause?: Error }).cause;
    return { name: failed?.name ?? (err as Error).name, cause: failed?.message };
  }
  throw new Error('the failure tail succeeded');
}

describe('State machine: OnboardingFailed', () => {
  it('keeps the original error name and cause when the caught error has a Cause', async () => {
    const out = await fail({ Error: 'TrustPolicyTimeoutError', Cause: 'no trust after 7 days' });
    expect(out.name).toBe('TrustPolicyTimeoutError');
    expect(JSON.parse(String(out.cause))).toEqual({ Error: 'TrustPolicyTimeoutError', Cause: 'no trust after 7 days' });
  });

  it('keeps the original error name when the caught error has no Cause (a bare CausePath would end in States.Runtime)', async () => {
    const out = await fail({ Error: 'States.Timeout' });
    expect(out.name).toBe('States.Timeout');
    expect(JSON.parse(String(out.cause))).toEqual({ Error: 'States.Timeout' });
  });
});
