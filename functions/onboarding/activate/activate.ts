/**
 * Activate: ONE conditional write (activatePending) that succeeds only if the pending config belongs to
 * this execution, its status is VERIFIED and no check failed. It makes the pending config the serving one
 * and points the org's routing (`active`) at this backend. A stale or duplicate execution gets
 * ActivationConflictError; a retry of this step after success is recognised and succeeds again.
 *
 * After the write, the platform role's inline policy is narrowed to the serving customer role (dropping
 * the old one of a re-onboarding). That is best effort: activation has already happened and must not be
 * reported as failed, and the next CreatePlatformRole rewrites the policy anyway.
 */
import { PutRolePolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  activatePending,
  getOrgRecord,
  writeAuditEvent,
  type RecordStore,
  type StepInput,
} from '../../shared/backend-records';
import { DetailType, emitEvent } from '../../shared/events';
import { ActivationConflictError, awsErrorName } from '../../shared/errors';
import { platformRoleName } from '../../shared/identifiers';
import { logger } from '../../shared/logger';
import { INLINE_POLICY_NAME, platformRoleInlinePolicy } from '../create-platform-role/create-platform-role';

export interface ActivateDeps {
  store: RecordStore;
  iam: IAMClient;
  events: EventBridgeClient;
  eventBusName: string;
  clock: () => Date;
}

export interface ActivationResult {
  activatedAt: string;
  configVersion: number;
  /** The backend that was active before (null = default storage). */
  previousActive: string | null;
  /** True when this execution had already activated (a retried step). */
  alreadyActive: boolean;
  /** Whether the platform role's inline policy now names only the serving customer role. */
  platformPolicyNarrowed: boolean;
}

/** Activates this execution's verified config. Throws ActivationConflictError when it may not. */
export async function activate(input: StepInput, deps: ActivateDeps): Promise<ActivationResult> {
  const now = deps.clock();
  const ref = { orgId: input.orgId, roleName: input.roleName, executionArn: input.executionArn };
  const activation = await activatePending(deps.store, ref, now);
  if (!activation) throw await conflict(deps, input);

  const servingArn = activation.serving.upload.roleArn;
  const previousArn = activation.previousServing?.upload.roleArn;
  const platformPolicyNarrowed = await narrowPlatformPolicy(deps, input, servingArn, previousArn);

  const activatedAt = activation.serving.activatedAt ?? now.toISOString();
  await emitEvent(deps.events, deps.eventBusName, DetailType.BackendActivated, {
    orgId: input.orgId,
    roleName: input.roleName,
    executionArn: input.executionArn,
    configVersion: activation.serving.configVersion,
    previousActive: activation.previousActive ?? null,
    previousConfigVersion: activation.previousServing?.configVersion ?? null,
    bucket: activation.serving.upload.bucket,
    region: activation.serving.upload.region,
    via: activation.serving.download.type,
    activatedAt,
  });
  await writeAuditEvent(deps.store, {
    orgId: input.orgId,
    executionName: input.executionName,
    step: 'Activate',
    attempt: 1,
    at: now.toISOString(),
    detail: {
      configVersion: activation.serving.configVersion,
      previousActive: activation.previousActive ?? null,
      previousConfigVersion: activation.previousServing?.configVersion ?? null,
      platformPolicyNarrowed,
    },
  });
  return {
    activatedAt,
    configVersion: activation.serving.configVersion,
    previousActive: activation.previousActive ?? null,
    alreadyActive: activation.alreadyActive,
    platformPolicyNarrowed,
  };
}

/** Explains why activation was refused, from a fresh read. */
async function conflict(deps: ActivateDeps, input: StepInput): Promise<ActivationConflictError> {
  const record = await getOrgRecord(deps.store.ddb, deps.store.tableName, input.orgId);
  const pending = record?.backends?.[input.roleName]?.pending;
  let why: string;
  if (!pending) why = 'the backend has no pending config';
  else if (pending.executionArn !== input.executionArn) why = `the pending config now belongs to ${pending.executionName}`;
  else if (pending.status !== 'VERIFIED') why = `its status is ${pending.status}, not VERIFIED`;
  else why = `${pending.failedChecks ?? 0} verification check(s) failed`;
  return new ActivationConflictError(
    `Execution ${input.executionName} may not activate backend ${input.roleName} of org ${input.orgId}: ${why}`,
  );
}

async function narrowPlatformPolicy(
  deps: ActivateDeps,
  input: StepInput,
  servingArn: string,
  previousArn: string | undefined,
): Promise<boolean> {
  try {
    await deps.iam.send(
      new PutRolePolicyCommand({
        RoleName: platformRoleName(input.orgId, input.roleName),
        PolicyName: INLINE_POLICY_NAME,
        PolicyDocument: platformRoleInlinePolicy([servingArn]),
      }),
    );
    return true;
  } catch (err) {
    logger.warn('Activated, but could not narrow the platform role policy; the next onboarding rewrites it', {
      errorName: awsErrorName(err),
      droppedRoleArn: previousArn,
    });
    return false;
  }
}
