/** Status-change rule Lambda: middy glue around `executionStatusChange` (see execution-status-change.ts). */
import { commonConfig, loadConfig } from '../../shared/config';
import { dynamo, eventBridge } from '../../shared/clients';
import { handlerFor, once } from '../../shared/handler';
import {
  executionStatusChange,
  type ExecutionStatusChangeDeps,
  type ExecutionStatusChangeResult,
} from './execution-status-change';

export const createHandler = handlerFor<ExecutionStatusChangeDeps, ExecutionStatusChangeResult>((event, deps) => executionStatusChange(event, deps));

function defaultDeps(): ExecutionStatusChangeDeps {
  const config = loadConfig(commonConfig);
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    events: eventBridge(),
    eventBusName: config.EVENT_BUS_NAME,
    clock: () => new Date(),
  };
}

export const handler = createHandler(once(defaultDeps));
