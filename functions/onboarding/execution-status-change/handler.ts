/** Status-change rule Lambda: middy glue around `executionStatusChange` (see execution-status-change.ts). */
import { recordKeepingDeps } from '#shared/deps';
import { handlerFor, once } from '#shared/handler';
import { eventProbe, tableProbes } from '#shared/smoke-probes';
import {
  executionStatusChange,
  type ExecutionStatusChangeDeps,
  type ExecutionStatusChangeResult,
} from './execution-status-change';

export const createHandler = handlerFor<ExecutionStatusChangeDeps, ExecutionStatusChangeResult>(
  (event, deps) => executionStatusChange(event, deps),
  (deps) => [...tableProbes(deps.store, ['UpdateItem', 'PutItem']), eventProbe(deps.events, deps.eventBusName)],
);

export const handler = createHandler(once(recordKeepingDeps));
