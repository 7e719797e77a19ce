/** RecordFailure Lambda: middy glue around `recordFailure` (see record-failure.ts). Takes any input. */
import { recordKeepingDeps } from '#shared/deps';
import { handlerFor, once } from '#shared/handler';
import { eventProbe, tableProbes } from '#shared/smoke-probes';
import { recordFailure, type RecordFailureDeps, type RecordFailureResult } from './record-failure';

export const createHandler = handlerFor<RecordFailureDeps, RecordFailureResult>(
  (event, deps) => recordFailure(event, deps),
  (deps) => [...tableProbes(deps.store, ['GetItem', 'UpdateItem', 'PutItem']), eventProbe(deps.events, deps.eventBusName)],
);

export const handler = createHandler(once(recordKeepingDeps));
