/**
 * aws-local-stepfunctions' event log is not AWS's execution history, so AWS figures are derived with a
 * documented conversion (aws-facts.md section 5, event type names from the HistoryEventType enum):
 *
 * | what ran                          | AWS history events                                                         | n |
 * | --------------------------------- | -------------------------------------------------------------------------- | - |
 * | execution start and end           | ExecutionStarted + ExecutionSucceeded / ExecutionFailed / ExecutionAborted | 2 |
 * | a Lambda Task (success or caught) | TaskStateEntered, LambdaFunctionScheduled, LambdaFunctionStarted,          | 5 |
 * |                                   | LambdaFunctionSucceeded / LambdaFunctionFailed, TaskStateExited            |   |
 * | each retry of a Task              | LambdaFunctionScheduled, LambdaFunctionStarted, LambdaFunctionFailed       | 3 |
 * | a Wait or a Choice                | WaitStateEntered/Exited, ChoiceStateEntered/Exited                         | 2 |
 * | a Succeed                         | SucceedStateEntered, SucceedStateExited                                    | 2 |
 * | a Fail                            | FailStateEntered                                                           | 1 |
 *
 * So one poll loop (Wait -> CheckTrust -> Choice) is 2 + 5 + 2 = 9 events, as DESIGN budgets.
 * State transitions (what Standard workflows bill, $0.025 per 1,000): one per state entered, plus one per
 * retry (AWS bills each retry as a transition).
 */
import type { LoggedEvent } from './harness';

export interface AwsFigures {
  stateTransitions: number;
  historyEvents: number;
  retries: number;
}

const EVENTS_PER_STATE: Record<string, number> = { Task: 5, Wait: 2, Choice: 2, Pass: 2, Succeed: 2, Fail: 1, Parallel: 2, Map: 2 };

/** AWS state transitions and history events for one execution's aws-local-stepfunctions event log. */
export function awsFigures(events: LoggedEvent[]): AwsFigures {
  let historyEvents = 2;
  let stateTransitions = 0;
  let retries = 0;
  for (const e of events) {
    if (e.type === 'StateEntered') {
      stateTransitions += 1;
      historyEvents += EVENTS_PER_STATE[e.state!.type] ?? 2;
    } else if (e.type === 'StateRetried') {
      retries += 1;
      stateTransitions += 1;
      historyEvents += 3;
    }
  }
  return { stateTransitions, historyEvents, retries };
}

/** Standard workflow price in us-east-1 and most regions. */
export const USD_PER_1000_TRANSITIONS = 0.025;

export function transitionCostUsd(transitions: number): number {
  return (transitions / 1000) * USD_PER_1000_TRANSITIONS;
}
