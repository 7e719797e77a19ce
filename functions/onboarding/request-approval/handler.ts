/** RequestApproval Lambda (invoked with waitForTaskToken): middy glue around `requestApproval`. */
import { recordKeepingDeps } from '#shared/deps';
import { handlerFor, once } from '#shared/handler';
import { eventProbe, tableProbes } from '#shared/smoke-probes';
import { requestApproval, type ApprovalRequestResult, type RequestApprovalDeps } from './request-approval';

export const createHandler = handlerFor<RequestApprovalDeps, ApprovalRequestResult>(
  (event, deps) => requestApproval(event, deps),
  (deps) => [...tableProbes(deps.store, ['UpdateItem', 'PutItem']), eventProbe(deps.events, deps.eventBusName)],
);

export const handler = createHandler(once(recordKeepingDeps));
