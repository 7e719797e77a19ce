/** RecordConfig Lambda: middy glue around `recordConfig` (see record-config.ts). */
import { commonConfig, env, inputRulesFromEnv, loadConfig } from '../../shared/config';
import { dynamo, stepFunctions } from '../../shared/clients';
import { handlerFor, once } from '../../shared/handler';
import { tableProbes } from '../../shared/smoke-probes';
import type { OnboardingContext } from '../../shared/backend-records';
import { recordConfig, type RecordConfigDeps } from './record-config';

export const createHandler = handlerFor<RecordConfigDeps, OnboardingContext>(
  (event, deps) => recordConfig(event, deps),
  (deps) => tableProbes(deps.store, ['GetItem', 'UpdateItem', 'PutItem']),
);

function defaultDeps(): RecordConfigDeps {
  const config = loadConfig({ ...commonConfig, PLATFORM_ACCOUNT_ID: env.optionalString() });
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    sfn: stepFunctions(),
    clock: () => new Date(),
    platformAccountId: config.PLATFORM_ACCOUNT_ID,
    inputRules: inputRulesFromEnv(),
  };
}

export const handler = createHandler(once(defaultDeps));
