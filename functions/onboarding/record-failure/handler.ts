/** RecordFailure Lambda: middy glue around `recordFailure` (see record-failure.ts). Takes any input. */
import { commonConfig, loadConfig } from '../../shared/config';
import { dynamo, eventBridge } from '../../shared/clients';
import { lambdaHandler } from '../../shared/handler';
import { recordFailure, type RecordFailureDeps, type RecordFailureResult } from './record-failure';

export function createHandler(deps: RecordFailureDeps | (() => RecordFailureDeps)) {
  const resolve = typeof deps === 'function' ? deps : () => deps;
  return lambdaHandler<unknown, RecordFailureResult>(async (event) => recordFailure(event, resolve()));
}

let defaults: RecordFailureDeps | undefined;
function defaultDeps(): RecordFailureDeps {
  const config = loadConfig(commonConfig);
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    events: eventBridge(),
    eventBusName: config.EVENT_BUS_NAME,
    clock: () => new Date(),
  };
}

export const handler = createHandler(() => (defaults ??= defaultDeps()));
