/** RecordConfig Lambda: middy glue around `recordConfig` (see record-config.ts). */
import { commonConfig, env, loadConfig } from '../../shared/config';
import { dynamo, stepFunctions } from '../../shared/clients';
import { lambdaHandler } from '../../shared/handler';
import type { OnboardingContext } from '../../shared/backend-records';
import { recordConfig, type RecordConfigDeps } from './record-config';

export function createHandler(deps: RecordConfigDeps | (() => RecordConfigDeps)) {
  const resolve = typeof deps === 'function' ? deps : () => deps;
  return lambdaHandler<unknown, OnboardingContext>(async (event) => recordConfig(event, resolve()));
}

let defaults: RecordConfigDeps | undefined;
function defaultDeps(): RecordConfigDeps {
  const config = loadConfig({ ...commonConfig, PLATFORM_ACCOUNT_ID: env.optionalString() });
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    sfn: stepFunctions(),
    clock: () => new Date(),
    platformAccountId: config.PLATFORM_ACCOUNT_ID,
  };
}

export const handler = createHandler(() => (defaults ??= defaultDeps()));
