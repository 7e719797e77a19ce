/** Deactivate Lambda: middy glue around `deactivate` (see deactivate.ts). */
import { commonConfig, loadConfig } from '../shared/config';
import { dynamo, eventBridge } from '../shared/clients';
import { handlerFor, once } from '../shared/handler';
import { deactivate, type DeactivateDeps, type DeactivateResult } from './deactivate';

export const createHandler = handlerFor<DeactivateDeps, DeactivateResult>((event, deps) => deactivate(event, deps));

function defaultDeps(): DeactivateDeps {
  const config = loadConfig(commonConfig);
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    events: eventBridge(),
    eventBusName: config.EVENT_BUS_NAME,
    clock: () => new Date(),
  };
}

export const handler = createHandler(once(defaultDeps));
