/** Starter Lambda: middy glue around `startOnboarding` (see starter.ts). CLI invoke or EventBridge event. */
import { commonConfig, env, loadConfig } from '../shared/config';
import { dynamo, stepFunctions } from '../shared/clients';
import { lambdaHandler } from '../shared/handler';
import { startOnboarding, type StartResult, type StarterDeps } from './starter';

export function createHandler(deps: StarterDeps | (() => StarterDeps)) {
  const resolve = typeof deps === 'function' ? deps : () => deps;
  return lambdaHandler<unknown, StartResult>(async (event) => startOnboarding(event, resolve()));
}

let defaults: StarterDeps | undefined;
function defaultDeps(): StarterDeps {
  const config = loadConfig({ ...commonConfig, STATE_MACHINE_ARN: env.string() });
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    sfn: stepFunctions(),
    clock: () => new Date(),
    stateMachineArn: config.STATE_MACHINE_ARN,
  };
}

export const handler = createHandler(() => (defaults ??= defaultDeps()));
