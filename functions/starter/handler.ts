/**
 * Starter Lambda: middy glue around `startOnboarding` (see starter.ts). Reached through the HTTP API
 * (`POST /onboardings`, AWS_IAM: answered as an HTTP response) or the Onboarding Requested rule.
 */
import { commonConfig, env, inputRulesFromEnv, loadConfig } from '#shared/config';
import { dynamo, stepFunctions } from '#shared/clients';
import { handlerFor, once } from '#shared/handler';
import { answeringHttpApi, type HttpApiResponse } from '#shared/http-api';
import { describeExecutionProbe, tableProbes } from '#shared/smoke-probes';
import { startOnboarding, type StartResult, type StarterDeps } from './starter';

export const createHandler = handlerFor<StarterDeps, StartResult | HttpApiResponse>(answeringHttpApi(startOnboarding), (deps) => [
  ...tableProbes(deps.store, ['GetItem', 'UpdateItem']),
  describeExecutionProbe(deps.sfn, deps.stateMachineArn),
]);

function defaultDeps(): StarterDeps {
  const config = loadConfig({ ...commonConfig, STATE_MACHINE_ARN: env.string() });
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    sfn: stepFunctions(),
    clock: () => new Date(),
    stateMachineArn: config.STATE_MACHINE_ARN,
    inputRules: inputRulesFromEnv(),
  };
}

export const handler = createHandler(once(defaultDeps));
