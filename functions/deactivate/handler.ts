/** Deactivate Lambda: middy glue around `deactivate` (see deactivate.ts). */
import { commonConfig, loadConfig } from '../shared/config';
import { dynamo, eventBridge } from '../shared/clients';
import { lambdaHandler } from '../shared/handler';
import { deactivate, type DeactivateDeps, type DeactivateResult } from './deactivate';

export function createHandler(deps: DeactivateDeps | (() => DeactivateDeps)) {
  const resolve = typeof deps === 'function' ? deps : () => deps;
  return lambdaHandler<unknown, DeactivateResult>(async (event) => deactivate(event, resolve()));
}

let defaults: DeactivateDeps | undefined;
function defaultDeps(): DeactivateDeps {
  const config = loadConfig(commonConfig);
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    events: eventBridge(),
    eventBusName: config.EVENT_BUS_NAME,
    clock: () => new Date(),
  };
}

export const handler = createHandler(() => (defaults ??= defaultDeps()));
