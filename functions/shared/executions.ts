/**
 * Step Functions helpers shared by the starter, RecordConfig and the status-change rule: whether an
 * execution still runs, and the ARN an execution of a state machine gets.
 */
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { asTransientOr, awsErrorName } from './errors';

export type ExecutionStatus =
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'TIMED_OUT'
  | 'ABORTED'
  | 'PENDING_REDRIVE'
  /** DescribeExecution answered ExecutionDoesNotExist (not started yet, or older than 90 days). */
  | 'NOT_FOUND';

export interface ExecutionState {
  status: ExecutionStatus;
  startDate?: Date;
}

/**
 * The execution's status. ExecutionDoesNotExist becomes NOT_FOUND; throttling and 5xx become
 * TransientError; anything else is rethrown.
 */
export async function describeExecutionState(sfn: SFNClient, executionArn: string): Promise<ExecutionState> {
  try {
    const out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    return { status: (out.status ?? 'RUNNING') as ExecutionStatus, startDate: out.startDate };
  } catch (err) {
    if (awsErrorName(err) === 'ExecutionDoesNotExist') return { status: 'NOT_FOUND' };
    throw asTransientOr(err, 'Step Functions DescribeExecution');
  }
}

/** `arn:aws:states:<region>:<account>:execution:<stateMachine>:<name>` for a state machine ARN. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/** The last segment of an execution ARN: its name. */
export function executionNameOf(executionArn: string): string {
  return executionArn.split(':').pop() ?? executionArn;
}

/** The account in an ARN (`arn:partition:service:region:account:...`). */
export function accountOfArn(arn: string): string | undefined {
  const account = arn.split(':')[4];
  return account && /^\d{12}$/.test(account) ? account : undefined;
}
