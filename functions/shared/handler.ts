/**
 * The middy glue every Lambda shares: logger context, and a log line for each failure naming the error
 * (never its cause chain, which can hold SDK responses). The error itself is rethrown unchanged so its
 * literal `name` reaches Step Functions as the `errorType`.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { logger } from './logger';
import { isSmokeEvent, runProbes, type SmokeProbe } from './smoke';

/**
 * The middy chain. The event `{"smoke": true}` runs the `smoke` probes instead of `fn` and returns
 * their report (functions/shared/smoke.ts); the report type is not `Result`, callers of `binary-backends
 * smoke` read it as a SmokeReport.
 */
export function lambdaHandler<Event, Result>(fn: (event: Event, context: Context) => Promise<Result>, smoke?: () => SmokeProbe[]) {
  return middy<Event, Result>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      onError: async (request) => {
        const err = request.error as Error | undefined;
        logger.error('Invocation failed', { errorName: err?.name, errorMessage: err?.message });
      },
    })
    .handler(async (event, context) => {
      // Every function answers the smoke event, never its domain code; without probes the report is an empty
      // PASS (the handler loaded and ran), which `binary-backends smoke` shows as 0 checks.
      if (isSmokeEvent(event)) {
        const report = await runProbes(smoke ? smoke() : []);
        logger.info('Smoke probes', { ...report });
        return report as unknown as Result;
      }
      return fn(event, context);
    });
}

/**
 * `createHandler` for a domain function `run(event, deps)`: given the dependencies (tests, the local
 * stack) or a function that makes them (the deployed handler, see `once`), a middy handler calling `run`.
 * `smoke(deps)` lists the function's smoke probes: calls its role is granted, in a harmless form.
 */
export function handlerFor<Deps extends object, Result>(
  run: (event: unknown, deps: Deps) => Promise<Result>,
  smoke?: (deps: Deps) => SmokeProbe[],
) {
  return (deps: Deps | (() => Deps)) => {
    const resolve = typeof deps === 'function' ? deps : () => deps;
    return lambdaHandler<unknown, Result>(async (event) => run(event, resolve()), smoke && (() => smoke(resolve())));
  };
}

export { once } from './once';
