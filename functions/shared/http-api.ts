/**
 * The people-facing functions (starter, deactivate, decideApproval) answer two kinds of caller: API
 * Gateway's HTTP API (payload 2.0, `AWS_IAM` authorization) and everything else (an EventBridge rule, a
 * direct invoke). For the API, a result or an error becomes an HTTP response whose JSON body is the result,
 * or `{errorType, errorMessage}` with a 4xx/5xx status, so the CLI prints the remediation for `errorType`
 * (errors.ts `remediationFor`). For anyone else the error is thrown as before (Lambda's own
 * `{errorType, errorMessage}`, EventBridge's retries and dead-letter queue).
 */
import { BinaryBackendError } from './errors';
import { isHttpApiEvent } from './caller';
import { logger } from './logger';

/** What an HTTP API Lambda integration (payload 2.0) returns. */
export interface HttpApiResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** HTTP status for each error the people-facing functions raise on purpose; other errors are 500. */
const STATUS_OF_ERROR: Record<string, number> = {
  ValidationError: 400,
  CallerNotVerifiedError: 403,
  ApprovalNotAllowedError: 403,
  BackendNotFoundError: 404,
  OnboardingInProgressError: 409,
  ConfigStillServingError: 409,
  RoleNameConflictError: 409,
  ApprovalNotPendingError: 409,
  TransientError: 503,
};

function json(statusCode: number, body: unknown): HttpApiResponse {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/**
 * The error as the API answers it. Our own errors keep their name and message (written for people);
 * anything else is a 500 whose message says where to look, never the error's own text (it may quote an
 * SDK response).
 */
export function httpErrorResponse(err: unknown): HttpApiResponse {
  if (err instanceof BinaryBackendError) {
    const status = STATUS_OF_ERROR[err.name] ?? (err.retryable ? 503 : 422);
    return json(status, { errorType: err.name, errorMessage: err.message });
  }
  return json(500, { errorType: 'InternalError', errorMessage: "The function failed unexpectedly; see its CloudWatch logs (the request ID is in the response headers)." });
}

/**
 * Wraps a domain entry `run(event, deps)`: for an HTTP API event the result is a 200 JSON response and
 * errors are responses (logged with their name); for any other event `run` is called unchanged.
 */
export function answeringHttpApi<Deps, Result>(run: (event: unknown, deps: Deps) => Promise<Result>) {
  return async (event: unknown, deps: Deps): Promise<Result | HttpApiResponse> => {
    if (!isHttpApiEvent(event)) return run(event, deps);
    try {
      return json(200, await run(event, deps));
    } catch (err) {
      const e = err as Error | undefined;
      logger.warn('API request refused', { errorName: e?.name, errorMessage: e?.message, routeKey: event.routeKey });
      return httpErrorResponse(err);
    }
  };
}
