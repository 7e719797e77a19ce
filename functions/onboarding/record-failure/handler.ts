/** RecordFailure Lambda: middy glue around `recordFailure` (see record-failure.ts). Takes any input. */
import { commonConfig, loadConfig } from '../../shared/config';
import { dynamo, eventBridge } from '../../shared/clients';
import { handlerFor, once } from '../../shared/handler';
import { recordFailure, type RecordFailureDeps, type RecordFailureResult } from './record-failure';

export const createHandler = handlerFor<RecordFailureDeps, RecordFailureResult>((event, deps) => recordFailure(event, deps));

function defaultDeps(): RecordFailureDeps {
  const config = loadConfig(commonConfig);
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    events: eventBridge(),
    eventBusName: config.EVENT_BUS_NAME,
    clock: () => new Date(),
  };
}

export const handler = createHandler(once(defaultDeps));
