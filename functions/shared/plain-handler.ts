/**
 * The glue of handler.ts without middy or Powertools, for the signer (issue 12.9: its module init; loading
 * @middy/core, with its `node:stream` / `node:stream/web` imports, and the Powertools Logger was most of what
 * the signer still paid at init, docs/signer.md "Cold start"). The other functions keep handler.ts.
 *
 * Same semantics as `lambdaHandler`'s middy chain (test/unit/plain-handler.test.ts runs both):
 * - per invocation, the logger's Lambda context (cold_start, function_name, function_request_id, ...) as
 *   Powertools' injectLambdaContext sets it, with its debug sampling and POWERTOOLS_LOGGER_LOG_EVENT;
 * - an undefined event reaches `fn` as `{}` (middy's default);
 * - middy's early timeout: 5 ms before the Lambda deadline (context.getRemainingTimeInMillis) the invocation
 *   fails with middy's own error (name `TimeoutError`, message "[AbortError]: The operation was aborted.");
 * - a failure logs one 'Invocation failed' error line with errorName/errorMessage (never the cause chain,
 *   which can hold SDK responses) and is rethrown unchanged, so its literal `name` is the caller's `errorType`;
 * - the event `{"smoke": true}` runs the `smoke` probes instead of `fn` and returns their report.
 */
import type { Context } from 'aws-lambda';
import { logger } from './plain-logger';
import { isSmokeEvent, runProbes, type SmokeProbe } from './smoke';

/** middy's `timeoutEarlyInMillis` default. */
const TIMEOUT_EARLY_MS = 5;

/** middy's `timeoutEarlyResponse`: the same name, message and cause, so callers see the same `errorType`. */
function middyTimeoutError(): Error {
  const err = new Error('[AbortError]: The operation was aborted.', { cause: { package: '@middy/core' } });
  err.name = 'TimeoutError';
  return err;
}

export function plainLambdaHandler<Event, Result>(fn: (event: Event, context: Context) => Promise<Result>, smoke?: () => SmokeProbe[]) {
  return async (event: Event = {} as Event, context: Context = {} as Context): Promise<Result> => {
    logger.startInvocation(event, context);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const run = async (): Promise<Result> => {
        if (isSmokeEvent(event)) {
          const report = await runProbes(smoke ? smoke() : []);
          logger.info('Smoke probes', { ...report });
          return report as unknown as Result;
        }
        return fn(event, context);
      };
      if (!context.getRemainingTimeInMillis) return await run();
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(middyTimeoutError()), context.getRemainingTimeInMillis() - TIMEOUT_EARLY_MS);
      });
      return await Promise.race([run(), deadline]);
    } catch (error) {
      const err = error as Error | undefined;
      logger.error('Invocation failed', { errorName: err?.name, errorMessage: err?.message });
      throw error;
    } finally {
      if (timer) clearTimeout(timer);
    }
  };
}

export { once } from './once';
