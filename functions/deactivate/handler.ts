/** Deactivate Lambda: middy glue around `deactivate` (see deactivate.ts). */
import { recordKeepingDeps } from '../shared/deps';
import { handlerFor, once } from '../shared/handler';
import { eventProbe, tableProbes } from '../shared/smoke-probes';
import { deactivate, type DeactivateDeps, type DeactivateResult } from './deactivate';

export const createHandler = handlerFor<DeactivateDeps, DeactivateResult>(
  (event, deps) => deactivate(event, deps),
  (deps) => [...tableProbes(deps.store, ['GetItem', 'UpdateItem', 'PutItem']), eventProbe(deps.events, deps.eventBusName)],
);

export const handler = createHandler(once(recordKeepingDeps));
