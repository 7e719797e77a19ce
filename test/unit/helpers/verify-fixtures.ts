/** Shared test data for the verification and cleanup steps' unit tests. Nothing here is secret. */
import type { CheckResult, ConfigStatus, ExecutionRef } from '#shared/records/model';
import type { StepInput } from '#shared/records/workflow-context';
import type { CheckRecorder } from '#shared/canary';

export const NOW = new Date('2026-11-30T07:00:00.000Z');
export const EXECUTION_NAME = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a-prod-1';
/** Where this execution's canaries live: under the config's `fw/` prefix. */
export const CANARY_PREFIX = `fw/.peridio-verification/${EXECUTION_NAME}/`;

/** The state a verify or cleanup step receives: an S3 backend in us-east-1 under `fw/`, trust established. */
export function stepInput(overrides: Partial<StepInput> = {}): StepInput {
  return {
    orgId: '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a',
    roleName: 'prod',
    configVersion: 1,
    executionArn: `arn:aws:states:us-east-1:111111111111:execution:onboarding:${EXECUTION_NAME}`,
    executionName: EXECUTION_NAME,
    requestedBy: 'arn:aws:iam::111111111111:user/support',
    startedAt: NOW.toISOString(),
    trustDeadlineAt: '2026-12-07T07:00:00.000Z',
    upload: { bucket: 'acme-firmware', region: 'us-east-1', roleArn: 'arn:aws:iam::222222222222:role/PeridioBinaries', accountId: '222222222222', prefix: 'fw/' },
    download: { type: 's3' },
    platformRoleArn: 'arn:aws:iam::111111111111:role/binary_backend_3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a_prod',
    trust: { trusted: true, attempt: 1, waitSeconds: 0, lastCheck: 'trusted' },
    ...overrides,
  };
}

/** Records checks and statuses in memory, merging checks by name as the real recorder does. */
export class FakeRecorder implements CheckRecorder {
  checks: CheckResult[] = [];
  statuses: ConfigStatus[] = [];
  async recordChecks(_ref: ExecutionRef, checks: CheckResult[]) {
    this.checks = [...this.checks.filter((c) => !checks.some((n) => n.name === c.name)), ...checks];
    return this.checks;
  }
  async setStatus(_ref: ExecutionRef, status: ConfigStatus) {
    this.statuses.push(status);
  }
  result(name: string) {
    return this.checks.find((c) => c.name === name)?.result;
  }
}
