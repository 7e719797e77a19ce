/** CheckTrust Lambda: middy glue around `checkTrust` (see check-trust.ts). */
import { commonConfig, env, loadConfig } from '../../shared/config';
import { dynamo, sts, stsWith } from '../../shared/clients';
import { lambdaHandler } from '../../shared/handler';
import { parseStepInput, type TrustCheckResult } from '../../shared/backend-records';
import { checkTrust, type CheckTrustDeps } from './check-trust';

export function createHandler(deps: CheckTrustDeps | (() => CheckTrustDeps)) {
  const resolve = typeof deps === 'function' ? deps : () => deps;
  return lambdaHandler<unknown, TrustCheckResult>(async (event) => checkTrust(parseStepInput(event), resolve()));
}

let defaults: CheckTrustDeps | undefined;
function defaultDeps(): CheckTrustDeps {
  const config = loadConfig({
    ...commonConfig,
    PLATFORM_ROLE_GRACE_SECONDS: env.seconds(300),
    // The variable Powertools Metrics reads for the same purpose: no EMF lines (e.g. where stdout is a terminal).
    POWERTOOLS_METRICS_DISABLED: env.optionalString(),
  });
  return {
    sts,
    stsWith,
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    clock: () => new Date(),
    platformRoleGraceSeconds: config.PLATFORM_ROLE_GRACE_SECONDS,
    ...(config.POWERTOOLS_METRICS_DISABLED === 'true' ? { emitMetric: () => undefined } : {}),
  };
}

export const handler = createHandler(() => (defaults ??= defaultDeps()));
