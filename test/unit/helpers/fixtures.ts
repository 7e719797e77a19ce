/** Shared test data for the workflow-core unit tests. Nothing here is secret. */
import type { BackendConfig } from '#shared/records/model';
import type { OnboardingContext } from '#shared/records/workflow-context';

export const ORG_ID = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
export const ROLE_NAME = 'prod';
export const PLATFORM_ACCOUNT = '111111111111';
export const CUSTOMER_ACCOUNT = '222222222222';
export const CUSTOMER_ROLE_ARN = `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PeridioBinaries`;
export const STATE_MACHINE_ARN = `arn:aws:states:us-east-1:${PLATFORM_ACCOUNT}:stateMachine:binary-backends-local-onboarding`;
export const PLATFORM_ROLE_ARN = `arn:aws:iam::${PLATFORM_ACCOUNT}:role/binary_backend_${ORG_ID}_${ROLE_NAME}`;
export const T0 = new Date('2026-11-30T08:00:00.000Z');

export function executionArnFor(name: string): string {
  return `arn:aws:states:us-east-1:${PLATFORM_ACCOUNT}:execution:binary-backends-local-onboarding:${name}`;
}

export function nameFor(version: number, roleName = ROLE_NAME): string {
  return `${ORG_ID}-${roleName}-${version}`;
}

export function config(overrides: Partial<BackendConfig> = {}): BackendConfig {
  const version = overrides.configVersion ?? 1;
  const name = overrides.executionName ?? nameFor(version);
  return {
    configVersion: version,
    executionArn: executionArnFor(name),
    executionName: name,
    status: 'PENDING',
    requestedBy: 'arn:aws:iam::111111111111:user/support',
    startedAt: T0.toISOString(),
    trustDeadlineAt: new Date(T0.getTime() + 7 * 86_400_000).toISOString(),
    attempts: 0,
    upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN, accountId: CUSTOMER_ACCOUNT },
    download: { type: 's3' },
    checks: [],
    createdAt: T0.toISOString(),
    updatedAt: T0.toISOString(),
    ...overrides,
  };
}

export function context(overrides: Partial<OnboardingContext> = {}): OnboardingContext {
  const version = overrides.configVersion ?? 1;
  const name = overrides.executionName ?? nameFor(version, overrides.roleName ?? ROLE_NAME);
  return {
    orgId: ORG_ID,
    roleName: ROLE_NAME,
    configVersion: version,
    executionArn: executionArnFor(name),
    executionName: name,
    requestedBy: 'arn:aws:iam::111111111111:user/support',
    startedAt: T0.toISOString(),
    trustDeadlineAt: new Date(T0.getTime() + 7 * 86_400_000).toISOString(),
    upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN, accountId: CUSTOMER_ACCOUNT },
    download: { type: 's3' },
    platformRoleArn: PLATFORM_ROLE_ARN,
    ...overrides,
  };
}
