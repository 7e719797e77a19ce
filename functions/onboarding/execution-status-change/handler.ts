/** Status-change rule Lambda: middy glue around `executionStatusChange` (see execution-status-change.ts). */
import { recordKeepingDeps } from '../../shared/deps';
import { handlerFor, once } from '../../shared/handler';
import {
  executionStatusChange,
  type ExecutionStatusChangeDeps,
  type ExecutionStatusChangeResult,
} from './execution-status-change';

export const createHandler = handlerFor<ExecutionStatusChangeDeps, ExecutionStatusChangeResult>((event, deps) => executionStatusChange(event, deps));

export const handler = createHandler(once(recordKeepingDeps));
