/**
 * RecordConfig: the authority over what an execution onboards, whoever started it.
 *
 * 1. Validates the execution input again (ValidationError names each bad field; nothing is written).
 *    An execution the starter claimed before the org's last deactivation is refused (OnboardingFencedError).
 * 2. Creates the org record / backend entry if needed (RoleNameConflictError for a case-variant name).
 * 3. If another execution holds the backend's unfinished pending config: refuses while that one is
 *    RUNNING (OnboardingInProgressError naming it); otherwise marks its config ABANDONED and takes over.
 * 4. Claims the customer role ARN and the bucket + prefix for this execution (claims.ts):
 *    ClaimedByAnotherOrgError when another org serves from, or is onboarding, either of them.
 * 5. Writes this execution's pending config, status PENDING, with `startedAt` from the injected clock, the
 *    trust deadline and the org's fence epoch. Never touches `active` or the serving config.
 * A retry of this step by the same execution returns the context it already recorded.
 */
import type { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod/mini';
import { FINISHED_STATUSES, type BackendConfig, type DownloadConfig, type RecordStore } from '#shared/records/model';
import { getOrgRecord } from '#shared/records/read-sdk';
import { writeAuditEvent } from '#shared/records/audit';
import type { OnboardingContext } from '#shared/records/workflow-context';
import { ensureBackend, markAbandoned, writePendingConfig } from '#shared/records/pending-writes';
import { fenceEpochOf, startedBeforeFence } from '#shared/records/lifecycle-writes';
import { stackRulesFor, type InputRulesConfig } from '#shared/config';
import { OnboardingFencedError, OnboardingInProgressError } from '#shared/errors';
import { acquireClaims, releaseClaims } from '#shared/claims';
import { DEFAULT_APPROVAL_POLICY, DEFAULT_APPROVAL_TIMEOUT_SECONDS, approvalPlan, type ApprovalPlan, type ApprovalSettings } from '#shared/approval';
import { partitionOf, platformRoleArn } from '#shared/identifiers';
import { TRUST_DEADLINE, accountOfRoleArn, parseExecutionInput, parseOrThrow, type ExecutionInput } from '#shared/validation';
import { accountOfArn, describeExecutionState, executionNameOf } from '#shared/executions';

export interface RecordConfigEvent {
  input: unknown;
  executionArn: string;
  executionName: string;
}

export interface RecordConfigDeps {
  store: RecordStore;
  sfn: SFNClient;
  clock: () => Date;
  /** The platform account; defaults to the account in the execution ARN (the state machine's account). */
  platformAccountId?: string;
  /** Key-secret prefix and loopback flag for the input rules (partition and account come from the execution). */
  inputRules?: InputRulesConfig;
  /** The stage's approval policy and wait (APPROVAL_POLICY, APPROVAL_TIMEOUT_SECONDS); `when-active`, 3 days by default. */
  approval?: ApprovalSettings;
}

const eventSchema = z.looseObject({
  input: z.unknown(),
  executionArn: z.string().check(z.minLength(1)),
  executionName: z.string().check(z.minLength(1)),
});

/** Records the pending config and returns the OnboardingContext. See the module comment for the errors. */
export async function recordConfig(event: unknown, deps: RecordConfigDeps): Promise<OnboardingContext> {
  const { input: rawInput, executionArn, executionName } = parseOrThrow(eventSchema, event) as RecordConfigEvent;
  const input = parseExecutionInput(rawInput, stackRulesFor(executionArn, deps.inputRules, deps.platformAccountId));
  const { orgId, roleName } = input;
  const now = deps.clock();

  const record = await ensureBackend(deps.store, { orgId, roleName, now });
  const backend = record.backends[roleName]!;
  const holder = backend.pending;
  // Decided here, from the routing RecordConfig sees; Activate refuses if `when-active` skipped it and the
  // org has started routing to a custom backend since.
  const approval = approvalPlan(deps.approval ?? { policy: DEFAULT_APPROVAL_POLICY, timeoutSeconds: DEFAULT_APPROVAL_TIMEOUT_SECONDS }, record.active);

  if (holder?.executionArn === executionArn) {
    // A retry after our write: the audit event may be what failed the first attempt (a duplicate is a no-op).
    await auditRecorded(deps, input, holder, now);
    return contextFrom(holder, input, deps, executionArn, approval);
  }

  if (startedBeforeFence(record, backend, executionArn)) {
    throw new OnboardingFencedError(
      `Execution ${executionName} was started before org ${orgId} was deactivated (${record.fencedAt}); ` +
        'it records nothing and the org stays on its current storage',
    );
  }

  let tookOverFrom: string | undefined;
  if (holder && !FINISHED_STATUSES.includes(holder.status)) {
    const state = await describeExecutionState(deps.sfn, holder.executionArn);
    if (state.status === 'RUNNING') throw inProgress(orgId, roleName, holder.executionArn);
    await markAbandoned(
      deps.store,
      { orgId, roleName, executionArn: holder.executionArn },
      {
        now,
        reason: {
          name: 'ExecutionAbandoned',
          message:
            `Execution ${executionNameOf(holder.executionArn)} stopped (${state.status}) without recording a result; ` +
            `execution ${executionName} took over this backend.`,
          remediation: 'Nothing to do: the newer onboarding replaces it. Read its history to see why it stopped.',
          at: now.toISOString(),
        },
      },
    );
    tookOverFrom = holder.executionArn;
    await releaseClaims(deps.store, {
      roleArn: holder.upload.roleArn,
      bucket: holder.upload.bucket,
      executionName: holder.executionName ?? executionNameOf(holder.executionArn),
    });
    // The pending slot is about to hold our config, so the abandoned one lives on in the audit trail.
    await writeAuditEvent(deps.store, {
      orgId,
      executionName: holder.executionName ?? executionNameOf(holder.executionArn),
      step: 'Abandoned',
      attempt: 1,
      at: now.toISOString(),
      detail: { configVersion: holder.configVersion, status: 'ABANDONED', executionStatus: state.status, takenOverBy: executionArn },
    });
  }

  // The fence epoch this onboarding starts under: a deactivation after this point bumps it, and Activate
  // then refuses (OnboardingFencedError). A deactivation between this read and the write below also fences
  // it, since the epoch recorded is the older one.
  const config = { ...pendingConfig(input, executionArn, executionName, now), fenceEpoch: fenceEpochOf(record) };
  const claim = {
    orgId,
    roleName,
    configVersion: input.configVersion,
    executionArn,
    executionName,
    roleArn: config.upload.roleArn,
    bucket: config.upload.bucket,
    prefix: config.upload.prefix,
  };
  await acquireClaims(deps.store, deps.sfn, claim, now);
  const written = await writePendingConfig(deps.store, {
    orgId,
    roleName,
    config,
    now,
    lastConfigVersion: input.configVersion > backend.lastConfigVersion ? input.configVersion : undefined,
  });
  if (!written) {
    // Lost a race: another execution wrote its pending config between our read and our write.
    const after = await getOrgRecord(deps.store.ddb, deps.store.tableName, orgId);
    const other = after?.backends?.[roleName]?.pending;
    if (other?.executionArn === executionArn) return contextFrom(other, input, deps, executionArn, approval);
    await releaseClaims(deps.store, { roleArn: claim.roleArn, bucket: claim.bucket, executionName });
    throw inProgress(orgId, roleName, other?.executionArn ?? 'unknown');
  }

  await auditRecorded(deps, input, config, now, tookOverFrom);
  return contextFrom(config, input, deps, executionArn, approval);
}

async function auditRecorded(
  deps: RecordConfigDeps,
  input: ExecutionInput,
  config: BackendConfig,
  now: Date,
  tookOverFrom?: string,
): Promise<void> {
  await writeAuditEvent(deps.store, {
    orgId: input.orgId,
    executionName: config.executionName,
    step: 'RecordConfig',
    attempt: 1,
    at: now.toISOString(),
    detail: {
      configVersion: config.configVersion,
      status: 'PENDING',
      requestedBy: config.requestedBy,
      bucket: config.upload.bucket,
      region: config.upload.region,
      download: config.download.type,
      ...(tookOverFrom ? { tookOverFrom } : {}),
    },
  });
}

function inProgress(orgId: string, roleName: string, holderArn: string): OnboardingInProgressError {
  return new OnboardingInProgressError(
    `Backend ${roleName} of org ${orgId} is being onboarded by the running execution ${executionNameOf(holderArn)} ` +
      `(${holderArn}); wait for it to finish or stop it, then retry`,
  );
}

function pendingConfig(input: ExecutionInput, executionArn: string, executionName: string, now: Date): BackendConfig {
  const deadlineSeconds = input.trustDeadlineSeconds ?? TRUST_DEADLINE.default;
  return {
    configVersion: input.configVersion,
    executionArn,
    executionName,
    status: 'PENDING',
    requestedBy: input.requestedBy,
    startedAt: now.toISOString(),
    trustDeadlineAt: new Date(now.getTime() + deadlineSeconds * 1000).toISOString(),
    attempts: 0,
    upload: { ...input.upload, accountId: accountOfRoleArn(input.upload.roleArn) },
    download: input.download as DownloadConfig,
    checks: [],
    failedChecks: 0,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
}

function contextFrom(
  config: BackendConfig,
  input: ExecutionInput,
  deps: RecordConfigDeps,
  executionArn: string,
  approval: ApprovalPlan,
): OnboardingContext {
  const account = deps.platformAccountId ?? accountOfArn(executionArn);
  if (!account) throw new Error(`Cannot tell the platform account from execution ARN ${executionArn}; set PLATFORM_ACCOUNT_ID`);
  return {
    orgId: input.orgId,
    roleName: input.roleName,
    configVersion: config.configVersion,
    executionArn: config.executionArn,
    executionName: config.executionName,
    requestedBy: config.requestedBy,
    startedAt: config.startedAt,
    trustDeadlineAt: config.trustDeadlineAt,
    upload: config.upload,
    download: config.download,
    platformRoleArn: platformRoleArn(partitionOf(executionArn), account, input.orgId, input.roleName),
    approval,
  };
}
