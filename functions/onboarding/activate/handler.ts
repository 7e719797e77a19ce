/** Activate Lambda: middy glue around `activate` (see activate.ts). */
import { commonConfig, loadConfig } from '../../shared/config';
import { dynamo, eventBridge, iam } from '../../shared/clients';
import { handlerFor, once } from '../../shared/handler';
import { parseStepInput } from '../../shared/backend-records';
import { activate, type ActivateDeps, type ActivationResult } from './activate';

export const createHandler = handlerFor<ActivateDeps, ActivationResult>((event, deps) => activate(parseStepInput(event), deps));

function defaultDeps(): ActivateDeps {
  const config = loadConfig(commonConfig);
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    iam: iam(),
    events: eventBridge(),
    eventBusName: config.EVENT_BUS_NAME,
    clock: () => new Date(),
  };
}

export const handler = createHandler(once(defaultDeps));
