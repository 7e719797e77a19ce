/**
 * local/task-bridge.ts: a failed Task looks as it does in AWS Step Functions for a Lambda function error
 * (docs/reference/aws-facts.md): Error = the errorType, Cause = the JSON `{errorType, errorMessage, trace}`.
 * Both the local stack and the state-machine tests run their Tasks through it.
 */
import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/errors';
import { lambdaErrorPayload, runLambdaTask, taskFailure, type TaskFailure } from '../../local/task-bridge';

describe('Task bridge (local/task-bridge.ts)', () => {
  it("reports a handler's error as the Node runtime does: errorType = error.name, its message, its stack as trace", () => {
    const err = new ValidationError('orgId: must be a UUID');
    const payload = lambdaErrorPayload(err);
    expect(payload.errorType).toBe('ValidationError');
    expect(payload.errorMessage).toBe('orgId: must be a UUID');
    expect(payload.trace[0]).toBe('ValidationError: orgId: must be a UUID');
    expect(payload.trace.length).toBeGreaterThan(1);
    expect(lambdaErrorPayload('a string')).toEqual({ errorType: 'Error', errorMessage: 'a string', trace: [] });
  });

  it('makes of it what Step Functions makes: Error = errorType, Cause = exactly {errorType, errorMessage, trace} as JSON', () => {
    const failure = taskFailure({ errorType: 'TransientError', errorMessage: 'throttled', trace: ['TransientError: throttled', '    at x (f.js:1:1)'] });
    expect(failure).toEqual({
      error: 'TransientError',
      cause: '{"errorType":"TransientError","errorMessage":"throttled","trace":["TransientError: throttled","    at x (f.js:1:1)"]}',
    });
  });

  it('throws for a failed handler an error named by its errorType whose message is the Cause, after telling onFailure', async () => {
    const seen: TaskFailure[] = [];
    const run = runLambdaTask(() => Promise.reject(new ValidationError('bad input')), {}, { onFailure: (f) => seen.push(f) });
    const thrown = (await run.catch((e: unknown) => e)) as Error;
    expect(thrown.name).toBe('ValidationError');
    expect(JSON.parse(thrown.message)).toEqual({ errorType: 'ValidationError', errorMessage: 'bad input', trace: expect.arrayContaining(['ValidationError: bad input']) });
    expect(seen).toEqual([{ error: 'ValidationError', cause: thrown.message }]);
  });

  it('reads other errors with toPayload (the local Lambda registry reports its own)', async () => {
    const run = runLambdaTask(() => { throw new Error('no such function'); }, {}, {
      toPayload: (err) => ({ errorType: 'Lambda.ServiceException', errorMessage: (err as Error).message, trace: [] }),
    });
    await expect(run).rejects.toMatchObject({ name: 'Lambda.ServiceException', message: '{"errorType":"Lambda.ServiceException","errorMessage":"no such function","trace":[]}' });
  });

  it('passes the event and the result through JSON, like the Invoke API', async () => {
    const event = { at: new Date('2026-12-02T00:00:00.000Z'), gone: undefined, nested: { n: 1 } };
    let received: unknown;
    const out = await runLambdaTask((e) => {
      received = e;
      (e as { nested: { n: number } }).nested.n = 2;
      return { when: new Date('2026-12-03T00:00:00.000Z') };
    }, event);
    expect(received).toEqual({ at: '2026-12-02T00:00:00.000Z', nested: { n: 2 } });
    expect(event.nested.n).toBe(1);
    expect(out).toEqual({ when: '2026-12-03T00:00:00.000Z' });
    expect(await runLambdaTask(() => undefined, {})).toBeNull();
  });

  it('reaches a Catch under aws-local-stepfunctions as {Error, Cause} with the Lambda-shaped Cause', async () => {
    const machine = new StateMachine({
      StartAt: 'Step',
      States: {
        Step: {
          Type: 'Task',
          Resource: 'arn:aws:lambda:us-east-1:123456789012:function:step',
          Catch: [{ ErrorEquals: ['ValidationError'], ResultPath: '$.error', Next: 'Caught' }],
          End: true,
        },
        Caught: { Type: 'Pass', End: true },
      },
    } as never);
    const run = machine.run({ orgId: 'x' }, {
      overrides: { taskResourceLocalHandlers: { Step: (input: unknown) => runLambdaTask(() => Promise.reject(new ValidationError('orgId: must be a UUID')), input) } as never },
    });
    const output = (await run.result) as { orgId: string; error: { Error: string; Cause: string } };
    expect(output.orgId).toBe('x');
    expect(output.error.Error).toBe('ValidationError');
    expect(JSON.parse(output.error.Cause)).toMatchObject({ errorType: 'ValidationError', errorMessage: 'orgId: must be a UUID' });
    expect(Object.keys(JSON.parse(output.error.Cause))).toEqual(['errorType', 'errorMessage', 'trace']);
  });
});
