/** CreatePlatformRole Lambda: middy glue around `createPlatformRole` (see create-platform-role.ts). */
import { setTimeout as sleep } from 'node:timers/promises';
import { commonConfig, env, loadConfig } from '#shared/config';
import { dynamo, eventBridge, iam } from '#shared/clients';
import { handlerFor, once } from '#shared/handler';
import { eventProbe, getPlatformRoleProbe, tableProbes } from '#shared/smoke-probes';
import { parseStepInput, type PlatformRoleResult } from '#shared/records/workflow-context';
import { createPlatformRole, type CreatePlatformRoleDeps } from './create-platform-role';

/**
 * PLATFORM_ROLE_TRUSTED_PRINCIPAL_PATTERN is comma-separated: deployed, the exact role ARNs of the functions
 * that walk the chain (serverless.yml), so no other stage's roles match; locally one pattern.
 */
export function trustedPrincipalPatterns(raw: string): string[] {
  return raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

export const createHandler = handlerFor<CreatePlatformRoleDeps, PlatformRoleResult>(
  (event, deps) => createPlatformRole(parseStepInput(event), deps),
  (deps) => [...tableProbes(deps.store, ['GetItem', 'UpdateItem', 'PutItem', 'Query']), eventProbe(deps.events, deps.config.eventBusName), getPlatformRoleProbe(deps.iam)],
);

function defaultDeps(): CreatePlatformRoleDeps {
  const config = loadConfig({
    ...commonConfig,
    PLATFORM_ACCOUNT_ID: env.string(),
    PLATFORM_ROLE_TRUSTED_PRINCIPAL_PATTERN: env.string(),
    PLATFORM_ROLE_PERMISSIONS_BOUNDARY_ARN: env.string(),
    ROLE_PROPAGATION_DELAY_SECONDS: env.seconds(10),
    SERVICE_STAGE: env.string(),
  });
  return {
    iam: iam(),
    events: eventBridge(),
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    clock: () => new Date(),
    sleep: (ms) => sleep(ms),
    config: {
      platformAccountId: config.PLATFORM_ACCOUNT_ID,
      trustedPrincipalPattern: trustedPrincipalPatterns(config.PLATFORM_ROLE_TRUSTED_PRINCIPAL_PATTERN),
      permissionsBoundaryArn: config.PLATFORM_ROLE_PERMISSIONS_BOUNDARY_ARN,
      propagationDelaySeconds: config.ROLE_PROPAGATION_DELAY_SECONDS,
      stage: config.SERVICE_STAGE,
      eventBusName: config.EVENT_BUS_NAME,
    },
  };
}

export const handler = createHandler(once(defaultDeps));
