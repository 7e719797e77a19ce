/**
 * The middy glue every Lambda shares: logger context, and a log line for each failure naming the error
 * (never its cause chain, which can hold SDK responses). The error itself is rethrown unchanged so its
 * literal `name` reaches Step Functions as the `errorType`.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { logger } from './logger';

export function lambdaHandler<Event, Result>(fn: (event: Event, context: Context) => Promise<Result>) {
  return middy<Event, Result>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      onError: async (request) => {
        const err = request.error as Error | undefined;
        logger.error('Invocation failed', { errorName: err?.name, errorMessage: err?.message });
      },
    })
    .handler(fn);
}
