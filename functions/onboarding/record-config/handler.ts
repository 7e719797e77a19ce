/** RecordConfig Lambda: middy glue around `recordConfig` (see record-config.ts). */
import { commonConfig, env, inputRulesFromEnv, loadConfig } from '#shared/config';
import { DEFAULT_APPROVAL_TIMEOUT_SECONDS, MAX_APPROVAL_TIMEOUT_SECONDS, approvalPolicyVariable } from '#shared/approval';
import { dynamo, stepFunctions } from '#shared/clients';
import { handlerFor, once } from '#shared/handler';
import { tableProbes } from '#shared/smoke-probes';
import type { OnboardingContext } from '#shared/records/workflow-context';
import { recordConfig, type RecordConfigDeps } from './record-config';

export const createHandler = handlerFor<RecordConfigDeps, OnboardingContext>(
  (event, deps) => recordConfig(event, deps),
  (deps) => tableProbes(deps.store, ['GetItem', 'UpdateItem', 'PutItem']),
);

function defaultDeps(): RecordConfigDeps {
  const config = loadConfig({
    ...commonConfig,
    PLATFORM_ACCOUNT_ID: env.optionalString(),
    APPROVAL_POLICY: approvalPolicyVariable,
    APPROVAL_TIMEOUT_SECONDS: env.seconds(DEFAULT_APPROVAL_TIMEOUT_SECONDS, { min: 60, max: MAX_APPROVAL_TIMEOUT_SECONDS }),
  });
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    sfn: stepFunctions(),
    clock: () => new Date(),
    platformAccountId: config.PLATFORM_ACCOUNT_ID,
    inputRules: inputRulesFromEnv(),
    approval: { policy: config.APPROVAL_POLICY, timeoutSeconds: config.APPROVAL_TIMEOUT_SECONDS },
  };
}

export const handler = createHandler(once(defaultDeps));
