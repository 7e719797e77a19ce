/**
 * Task tokens on the local Step Functions (aws-local-stepfunctions 3.0.0 has none): a
 * `lambda:invoke.waitForTaskToken` state gets a fresh `$$.Task.Token`, waits for SendTaskSuccess /
 * SendTaskFailure (with SendTaskHeartbeat), times out with States.Timeout, and answers late or bogus tokens
 * with AWS's error names. Driven through an SFN client configured only from the env file, against a fixture
 * ASL and fixture functions, so this file does not depend on the workflow's handlers.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { LocalStack } from '../../local/stack';
import { failure, startTestStack, type EnvClients } from './local-stack-helpers';

const asl = {
  StartAt: 'RequestApproval',
  States: {
    RequestApproval: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: { FunctionName: { 'Fn::GetAtt': ['requestApproval', 'Arn'] }, Payload: { 'taskToken.$': '$$.Task.Token', 'input.$': '$' } },
      TimeoutSecondsPath: '$.approval.timeoutSeconds',
      ResultPath: '$.decision',
      Catch: [
        { ErrorEquals: ['States.Timeout'], ResultPath: '$.error', Next: 'Expired' },
        { ErrorEquals: ['ApprovalRejectedError'], ResultPath: '$.error', Next: 'Rejected' },
      ],
      Next: 'Done',
    },
    Expired: { Type: 'Fail', Error: 'ApprovalExpiredError' },
    Rejected: { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
    Done: { Type: 'Succeed' },
  },
};

let stack: LocalStack;
let c: EnvClients;
let smArn: string;
const payloads: { taskToken: string; input: unknown }[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'local-stack-tokens-'));
  const aslPath = path.join(dir, 'fixture.asl.json');
  writeFileSync(aslPath, JSON.stringify(asl));
  ({ stack, clients: c } = await startTestStack({ aslPath, retryIntervalMs: 1 }));
  smArn = c.env.BINARY_BACKENDS_STATE_MACHINE_ARN!;
  stack.registerFunction(stack.names.function('requestApproval'), async (event) => {
    payloads.push(event as { taskToken: string; input: unknown });
    return { recorded: true };
  });
});
afterAll(async () => {
  await stack?.stop();
});

async function startWaiting(name: string): Promise<{ executionArn: string; token: string }> {
  const { executionArn } = await c.sfn().send(
    new StartExecutionCommand({ stateMachineArn: smArn, name, input: JSON.stringify({ id: name, approval: { timeoutSeconds: 259200 } }) }),
  );
  const task = await stack.stepFunctions.tokens.waitingFor(executionArn!);
  return { executionArn: executionArn!, token: task.token };
}

describe('Step Functions task tokens (local)', () => {
  it('invokes the function with a fresh token in the Payload, waits, and resumes with the SendTaskSuccess output', async () => {
    const sfn = c.sfn();
    const { executionArn, token } = await startWaiting('approve-1');
    expect(payloads.at(-1)).toEqual({ taskToken: token, input: { id: 'approve-1', approval: { timeoutSeconds: 259200 } } });
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');

    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ approvedBy: 'someone' }) }));
    await stack.waitForExecution(executionArn);

    const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(d.status).toBe('SUCCEEDED');
    expect(JSON.parse(d.output!).decision).toEqual({ approvedBy: 'someone' });
    const h = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(h.events!.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSubmitted',
      'TaskSucceeded',
      'TaskStateExited',
      'SucceedStateEntered',
      'SucceedStateExited',
      'ExecutionSucceeded',
    ]);
    const scheduled = h.events!.find((e) => e.type === 'TaskScheduled')!.taskScheduledEventDetails!;
    expect(scheduled).toMatchObject({ resourceType: 'lambda', resource: 'invoke.waitForTaskToken', timeoutInSeconds: 259200 });
    expect(JSON.parse(scheduled.parameters!).FunctionName).toBe(`arn:aws:lambda:us-east-1:${stack.accounts.platform}:function:${stack.names.function('requestApproval')}`);
    expect(h.events!.find((e) => e.type === 'TaskSucceeded')!.taskSucceededEventDetails!.output).toBe(JSON.stringify({ approvedBy: 'someone' }));

    expect(await failure(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })))).toMatchObject({ name: 'TaskDoesNotExist' });
  });

  it('fails the task with the SendTaskFailure error and cause, which a Catch matches by name', async () => {
    const sfn = c.sfn();
    const { executionArn, token } = await startWaiting('reject-1');

    await sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'ApprovalRejectedError', cause: 'not this bucket' }));
    await stack.waitForExecution(executionArn);

    const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(d).toMatchObject({ status: 'FAILED', error: 'ApprovalRejectedError', cause: 'not this bucket' });
    const h = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(h.events!.find((e) => e.type === 'TaskFailed')!.taskFailedEventDetails).toMatchObject({ error: 'ApprovalRejectedError', cause: 'not this bucket' });
  });

  it('times out with States.Timeout (TaskTimedOut in history); a late SendTaskSuccess gets TaskTimedOut', async () => {
    const sfn = c.sfn();
    const { executionArn, token } = await startWaiting('expire-1');

    stack.stepFunctions.tokens.expire(token);
    await stack.waitForExecution(executionArn);

    expect((await sfn.send(new DescribeExecutionCommand({ executionArn }))).error).toBe('ApprovalExpiredError');
    const h = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(h.events!.find((e) => e.type === 'TaskTimedOut')!.taskTimedOutEventDetails).toMatchObject({ error: 'States.Timeout' });
    expect(await failure(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })))).toMatchObject({ name: 'TaskTimedOut' });
  });

  it('answers a token it never issued with InvalidToken, and output that is not JSON with InvalidOutput', async () => {
    const sfn = c.sfn();
    expect(await failure(sfn.send(new SendTaskSuccessCommand({ taskToken: 'forged', output: '{}' })))).toMatchObject({ name: 'InvalidToken' });
    expect(await failure(sfn.send(new SendTaskFailureCommand({ taskToken: 'AQBforged-but-well-shaped' })))).toMatchObject({ name: 'InvalidToken' });
    const { executionArn, token } = await startWaiting('bad-output-1');
    expect(await failure(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: 'not json' })))).toMatchObject({ name: 'InvalidOutput' });
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
    await stack.waitForExecution(executionArn);
  });
});
