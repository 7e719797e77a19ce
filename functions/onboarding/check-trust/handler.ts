/** CheckTrust Lambda: middy glue around `checkTrust` (see check-trust.ts). */
import { commonConfig, env, loadConfig } from '#shared/config';
import { dynamo, sts, stsWith } from '#shared/clients';
import { handlerFor, once } from '#shared/handler';
import { stsIdentityProbe, tableProbes } from '#shared/smoke-probes';
import { parseStepInput, type TrustCheckResult } from '#shared/records/workflow-context';
import { checkTrust, type CheckTrustDeps } from './check-trust';

export const createHandler = handlerFor<CheckTrustDeps, TrustCheckResult>(
  (event, deps) => checkTrust(parseStepInput(event), deps),
  (deps) => [...tableProbes(deps.store, ['UpdateItem', 'PutItem']), stsIdentityProbe(deps.sts())],
);

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

export const handler = createHandler(once(defaultDeps));
