/**
 * The one bridge between aws-local-stepfunctions and the Lambda handlers, shared by the local stack
 * (local/stepfunctions.ts, through the Lambda registry) and the state-machine tests
 * (test/statemachine/harness.ts, handlers called in-process).
 *
 * A Task's handler runs across a JSON boundary both ways, like the Lambda runtime. When it fails, the Task
 * fails the way AWS Step Functions fails a Lambda task (docs/reference/aws-facts.md, "Custom error names from
 * Node.js Lambdas"; DESIGN "On failure"):
 * - Error = the function's `errorType` (the Node runtime's `error.name`);
 * - Cause = the JSON string `{"errorType", "errorMessage", "trace"}` (Lambda drops any other property).
 * aws-local-stepfunctions turns an error a local handler throws into `{Error: err.name, Cause: err.message}`,
 * so the bridge throws an Error whose name is the errorType and whose message is that JSON. Without the
 * bridge the Cause would be the plain message, which AWS never gives for a function error.
 */

/** What Lambda reports for a function's unhandled error (the Invoke response body with X-Amz-Function-Error). */
export interface LambdaErrorPayload {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

/** A Task failure as Step Functions records it (`error` / `cause` in history, `Error` / `Cause` in a Catch). */
export type TaskFailure = {
  error: string;
  cause: string;
};

/** The error a handler threw, as the Lambda Node runtime reports it: errorType = `error.name`. */
export function lambdaErrorPayload(err: unknown): LambdaErrorPayload {
  if (err instanceof Error) {
    return { errorType: err.name || 'Error', errorMessage: err.message, trace: (err.stack ?? '').split('\n') };
  }
  return { errorType: 'Error', errorMessage: String(err), trace: [] };
}

/** What Step Functions makes of a Lambda function error: Error = errorType, Cause = the payload as JSON. */
export function taskFailure(payload: LambdaErrorPayload): TaskFailure {
  const { errorType, errorMessage, trace } = payload;
  return { error: errorType, cause: JSON.stringify({ errorType, errorMessage, trace }) };
}

/**
 * The error to throw from an aws-local-stepfunctions local handler so that the Catch sees `failure`
 * (the library uses `name` as Error and `message` as Cause).
 */
export function taskError(failure: TaskFailure): Error {
  const e = new Error(failure.cause);
  e.name = failure.error;
  return e;
}

/** Like the Lambda runtime: an event or a result crosses a JSON boundary (undefined becomes null). */
export function overJson<T = unknown>(value: unknown): T {
  return JSON.parse(JSON.stringify(value ?? null)) as T;
}

/**
 * Runs a Task's function: `invoke` gets the event after the JSON boundary and its result crosses it back.
 * On a function error, `onFailure` sees the failure (for history) and the Task fails as in AWS.
 * `toPayload` reads the error `invoke` threw (default: a handler's own error, as the Node runtime does).
 */
export async function runLambdaTask<T = unknown>(
  invoke: (event: unknown) => Promise<unknown> | unknown,
  event: unknown,
  opts: { toPayload?: (err: unknown) => LambdaErrorPayload; onFailure?: (failure: TaskFailure) => void } = {},
): Promise<T> {
  let result: unknown;
  try {
    result = await invoke(overJson(event));
  } catch (err) {
    const failure = taskFailure((opts.toPayload ?? lambdaErrorPayload)(err));
    opts.onFailure?.(failure);
    throw taskError(failure);
  }
  return overJson<T>(result);
}
