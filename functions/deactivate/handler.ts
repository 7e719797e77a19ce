/**
 * Deactivate Lambda: middy glue around `deactivate` (see deactivate.ts). Reached through the HTTP API
 * (`POST /deactivations`, AWS_IAM: answered as an HTTP response); `requestedBy` (the audit's `by`) is the
 * verified caller, or `claimed:<...>` for a direct invoke (shared/requester.ts), never the body's word.
 */
import { recordKeepingDeps } from '#shared/deps';
import { handlerFor, once } from '#shared/handler';
import { answeringHttpApi, type HttpApiResponse } from '#shared/http-api';
import { requestWithCaller } from '#shared/requester';
import { eventProbe, tableProbes } from '#shared/smoke-probes';
import { deactivate, type DeactivateDeps, type DeactivateResult } from './deactivate';

export const createHandler = handlerFor<DeactivateDeps, DeactivateResult | HttpApiResponse>(
  answeringHttpApi((event, deps: DeactivateDeps) => {
    const { body, caller } = requestWithCaller(event);
    return deactivate({ ...body, requestedBy: caller.arn }, deps);
  }),
  (deps) => [...tableProbes(deps.store, ['GetItem', 'UpdateItem', 'PutItem', 'Query']), eventProbe(deps.events, deps.eventBusName)],
);

export const handler = createHandler(once(recordKeepingDeps));
