/**
 * Offboard Lambda: middy glue around `offboard` (see offboard.ts). Reached through the HTTP API
 * (`POST /offboardings`, AWS_IAM: answered as an HTTP response); `requestedBy` (the audit's `by`) is the
 * verified caller, or `claimed:<...>` for a direct invoke (shared/requester.ts), never the body's word.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { iam, secretsManager } from '#shared/clients';
import { recordKeepingDeps } from '#shared/deps';
import { handlerFor, once } from '#shared/handler';
import { answeringHttpApi, type HttpApiResponse } from '#shared/http-api';
import { requestWithCaller } from '#shared/requester';
import { eventProbe, listPlatformRolePoliciesProbe, tableProbes } from '#shared/smoke-probes';
import { offboard, type OffboardDeps, type OffboardResult } from './offboard';

export const createHandler = handlerFor<OffboardDeps, OffboardResult | HttpApiResponse>(
  answeringHttpApi((event, deps: OffboardDeps) => {
    const { body, caller } = requestWithCaller(event);
    return offboard({ ...body, requestedBy: caller.arn }, deps);
  }),
  (deps) => [
    ...tableProbes(deps.store, ['GetItem', 'UpdateItem', 'PutItem', 'Query']),
    eventProbe(deps.events, deps.eventBusName),
    listPlatformRolePoliciesProbe(deps.iam),
  ],
);

export const handler = createHandler(
  once(() => ({ ...recordKeepingDeps(), iam: iam(), secrets: secretsManager(), sleep: (ms: number) => sleep(ms) })),
);
