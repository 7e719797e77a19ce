/**
 * The writes of a pending config, as an onboarding runs: the backend's creation, the configVersion claim,
 * RecordConfig's pending config, each step's status and results, and a failure or abandonment. Each is one
 * conditional write on the org item (expressions.ts); none touches `active` or `serving` (lifecycle-writes.ts).
 */
import { RoleNameConflictError, StaleExecutionError, TransientError } from '../errors';
import {
  FINISHED_STATUSES,
  type Backend,
  type BackendConfig,
  type CheckResult,
  type ConfigError,
  type ConfigStatus,
  type ExecutionRef,
  type InflightClaim,
  type OrgRecord,
  type RecordStore,
} from './model';
import { findBackendIgnoringCase } from './read';
import { getOrgRecord } from './read-sdk';
import { Expr, bumpVersion, isConditionFailure, ownsPending, pendingPath, pendingSets, update } from './expressions';

/** Fields of a pending config that setPendingStatus / recordTrustAttempt may set besides the status. */
export type PendingFields = Partial<
  Pick<BackendConfig, 'attempts' | 'lastCheckedAt' | 'lastCheckResult' | 'nextCheckAt' | 'trustPolicyReadyAt'>
>;

/**
 * Makes sure the org item, its `backends` map and the backend `roleName` exist, creating what is missing.
 * Idempotent. Throws RoleNameConflictError when the org has a backend whose name differs only in case.
 */
export async function ensureBackend(
  store: RecordStore,
  args: { orgId: string; roleName: string; now: Date },
): Promise<OrgRecord> {
  const { orgId, roleName, now } = args;
  for (let round = 0; round < 3; round += 1) {
    const record = await getOrgRecord(store.ddb, store.tableName, orgId);
    const existing = findBackendIgnoringCase(record, roleName);
    if (existing && existing.roleName !== roleName) throw roleNameConflict(orgId, roleName, existing.roleName);
    if (record?.backends?.[roleName] && record.roleNames?.[roleName.toLowerCase()] === roleName) return record;

    if (!record?.backends || !record.roleNames) {
      const e = new Expr();
      await update(
        store,
        orgId,
        e,
        `SET ${e.path('orgId')} = ${e.value(orgId)}, ` +
          `${e.path('backends')} = if_not_exists(${e.path('backends')}, ${e.value({})}), ` +
          `${e.path('roleNames')} = if_not_exists(${e.path('roleNames')}, ${e.value({})}), ` +
          `${e.path('version')} = if_not_exists(${e.path('version')}, ${e.value(0)}) + ${e.value(1)}, ` +
          `${e.path('updatedAt')} = ${e.value(now.toISOString())}`,
        undefined,
        'create org record',
      );
    }

    const e = new Expr();
    const lower = roleName.toLowerCase();
    const fresh: Backend = { roleName, lastConfigVersion: 0 };
    try {
      await update(
        store,
        orgId,
        e,
        `SET ${e.path('backends', roleName)} = if_not_exists(${e.path('backends', roleName)}, ${e.value(fresh)}), ` +
          `${e.path('roleNames', lower)} = ${e.value(roleName)}, ${bumpVersion(e, now)}`,
        `attribute_not_exists(${e.path('roleNames', lower)}) OR ${e.path('roleNames', lower)} = ${e.value(roleName)}`,
        'create backend',
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const after = await getOrgRecord(store.ddb, store.tableName, orgId);
      const holder = after?.roleNames?.[lower];
      throw roleNameConflict(orgId, roleName, holder ?? findBackendIgnoringCase(after, roleName)?.roleName ?? lower);
    }
  }
  const record = await getOrgRecord(store.ddb, store.tableName, orgId);
  if (record?.backends?.[roleName]) return record;
  throw new TransientError(`Could not create backend ${roleName} of org ${orgId} after 3 rounds`);
}

function roleNameConflict(orgId: string, roleName: string, existing: string): RoleNameConflictError {
  return new RoleNameConflictError(
    `roleName: "${roleName}" differs only in letter case from the existing backend "${existing}" of org ${orgId}; ` +
      'IAM role names ignore case, so use exactly that name or a different one',
  );
}

/**
 * Allocates the next configVersion of a backend and records the starter's in-flight claim, in one write
 * conditioned on `lastConfigVersion` still being `expectedLastConfigVersion`. Returns the claim, or
 * undefined when another writer allocated first (re-read and decide again). The backend must exist
 * (ensureBackend).
 */
export async function allocateConfigVersion(
  store: RecordStore,
  args: {
    orgId: string;
    roleName: string;
    expectedLastConfigVersion: number;
    now: Date;
    /** Builds the claim for the allocated version (it knows how to name the execution). */
    claimFor: (configVersion: number) => InflightClaim;
  },
): Promise<InflightClaim | undefined> {
  const next = args.expectedLastConfigVersion + 1;
  const claim = args.claimFor(next);
  const e = new Expr();
  const last = e.path('backends', args.roleName, 'lastConfigVersion');
  try {
    await update(
      store,
      args.orgId,
      e,
      `SET ${last} = ${e.value(next)}, ${e.path('backends', args.roleName, 'inflight')} = ${e.value(claim)}, ${bumpVersion(e, args.now)}`,
      `${last} = ${e.value(args.expectedLastConfigVersion)}`,
      'allocate config version',
    );
    return claim;
  } catch (err) {
    if (isConditionFailure(err)) return undefined;
    throw err;
  }
}

/**
 * Writes an execution's pending config (RecordConfig). Succeeds when the backend has no pending config,
 * when it is this execution's own (a retry), or when it is FAILED or ABANDONED. Returns false when another
 * execution still holds it (mark it abandoned first if it is no longer running). Never touches `active`
 * or `serving`. `lastConfigVersion`, when given, is raised to it (executions started outside the starter).
 */
export async function writePendingConfig(
  store: RecordStore,
  args: { orgId: string; roleName: string; config: BackendConfig; now: Date; lastConfigVersion?: number },
): Promise<boolean> {
  const { orgId, roleName, config, now } = args;
  const e = new Expr();
  const pending = e.path('backends', roleName, 'pending');
  const sets = [`${pending} = ${e.value(config)}`, bumpVersion(e, now)];
  if (args.lastConfigVersion !== undefined) {
    sets.push(`${e.path('backends', roleName, 'lastConfigVersion')} = ${e.value(args.lastConfigVersion)}`);
  }
  const condition =
    `attribute_exists(${e.path('backends', roleName)}) AND (attribute_not_exists(${pending}) OR ` +
    `${pendingPath(e, roleName, 'executionArn')} = ${e.value(config.executionArn)} OR ` +
    `${pendingPath(e, roleName, 'status')} IN (${FINISHED_STATUSES.map((s) => e.value(s)).join(', ')}))`;
  try {
    await update(store, orgId, e, `SET ${sets.join(', ')}`, condition, 'write pending config');
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

/**
 * Updates this execution's pending config, conditioned on it still being this execution's and not
 * finished (FAILED / ABANDONED). Throws StaleExecutionError otherwise.
 */
async function updateOwnPending(
  store: RecordStore,
  ref: ExecutionRef,
  fields: Record<string, unknown>,
  now: Date,
  what: string,
  backendFields: Record<string, unknown> = {},
): Promise<void> {
  const e = new Expr();
  const { sets, removes } = pendingSets(e, ref.roleName, { ...fields, updatedAt: now.toISOString() });
  for (const [k, v] of Object.entries(backendFields)) sets.push(`${e.path('backends', ref.roleName, k)} = ${e.value(v)}`);
  sets.push(bumpVersion(e, now));
  const expression = `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`;
  const condition =
    `${ownsPending(e, ref)} AND NOT (${pendingPath(e, ref.roleName, 'status')} IN ` +
    `(${FINISHED_STATUSES.map((s) => e.value(s)).join(', ')}))`;
  try {
    await update(store, ref.orgId, e, expression, condition, what);
  } catch (err) {
    if (isConditionFailure(err)) throw staleExecution(ref, what);
    throw err;
  }
}

function staleExecution(ref: ExecutionRef, what: string): StaleExecutionError {
  return new StaleExecutionError(
    `Cannot ${what}: execution ${ref.executionArn} no longer owns the pending config of backend ` +
      `${ref.roleName} of org ${ref.orgId} (a newer onboarding took over, or this one was marked finished)`,
  );
}

/**
 * Sets this execution's pending status (and optional fields; a field given as undefined is removed).
 * Throws StaleExecutionError when another execution holds the pending config or it is FAILED/ABANDONED.
 */
export async function setPendingStatus(
  store: RecordStore,
  ref: ExecutionRef,
  status: ConfigStatus,
  opts: { now: Date; fields?: PendingFields },
): Promise<void> {
  await updateOwnPending(store, ref, { ...(opts.fields ?? {}), status }, opts.now, `set status ${status}`);
}

/**
 * Records one CheckTrust attempt on this execution's pending config: attempts, lastCheckedAt,
 * lastCheckResult, nextCheckAt (removed when undefined), and the status when given (VERIFYING on success).
 * Throws StaleExecutionError like setPendingStatus.
 */
export async function recordTrustAttempt(
  store: RecordStore,
  ref: ExecutionRef,
  attempt: { attempts: number; checkedAt: Date; result: string; nextCheckAt?: string; status?: ConfigStatus },
): Promise<void> {
  const fields: Record<string, unknown> = {
    attempts: attempt.attempts,
    lastCheckedAt: attempt.checkedAt.toISOString(),
    lastCheckResult: attempt.result,
    nextCheckAt: attempt.nextCheckAt,
  };
  if (attempt.status) fields.status = attempt.status;
  await updateOwnPending(store, ref, fields, attempt.checkedAt, 'record a trust check');
}

/**
 * Stores the platform role ARN and the customer's trust policy (+ instructions) on the backend, and sets
 * this execution's pending status to AWAITING_TRUST. Throws StaleExecutionError like setPendingStatus.
 */
export async function storeTrustPolicy(
  store: RecordStore,
  ref: ExecutionRef,
  args: { platformRoleArn: string; trustPolicy: string; instructions: string; now: Date },
): Promise<void> {
  await updateOwnPending(
    store,
    ref,
    { status: 'AWAITING_TRUST', trustPolicyReadyAt: args.now.toISOString() },
    args.now,
    'store the trust policy',
    { platformRoleArn: args.platformRoleArn, trustPolicy: args.trustPolicy, trustPolicyInstructions: args.instructions },
  );
}

/**
 * Adds verification checks to this execution's pending config, replacing any earlier check of the same
 * name, and keeps `failedChecks` in step (Activate requires it to be 0). Read-modify-write guarded by the
 * record's `version`, retried on a lost race. Throws StaleExecutionError like setPendingStatus.
 */
export async function recordChecks(
  store: RecordStore,
  ref: ExecutionRef,
  checks: CheckResult[],
  now: Date,
): Promise<CheckResult[]> {
  for (let round = 0; round < 5; round += 1) {
    const record = await getOrgRecord(store.ddb, store.tableName, ref.orgId);
    const pending = record?.backends?.[ref.roleName]?.pending;
    if (!record || !pending || pending.executionArn !== ref.executionArn || FINISHED_STATUSES.includes(pending.status)) {
      throw staleExecution(ref, 'record checks');
    }
    const names = new Set(checks.map((c) => c.name));
    const merged = [...(pending.checks ?? []).filter((c) => !names.has(c.name)), ...checks];
    const e = new Expr();
    const expression =
      `SET ${pendingPath(e, ref.roleName, 'checks')} = ${e.value(merged)}, ` +
      `${pendingPath(e, ref.roleName, 'failedChecks')} = ${e.value(merged.filter((c) => c.result === 'FAIL').length)}, ` +
      `${pendingPath(e, ref.roleName, 'updatedAt')} = ${e.value(now.toISOString())}, ${bumpVersion(e, now)}`;
    try {
      await update(store, ref.orgId, e, expression, `${e.path('version')} = ${e.value(record.version)} AND ${ownsPending(e, ref)}`, 'record checks');
      return merged;
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }
  throw new TransientError(`record checks for ${ref.executionArn}: the org record kept changing; retry`);
}

/**
 * Writes FAILED and the error on this execution's pending config only (conditioned on executionArn).
 * Returns false, writing nothing, when the config is not this execution's (or there is no record at all).
 * Never touches `serving` or `active`.
 */
export async function recordFailure(store: RecordStore, ref: ExecutionRef, error: ConfigError, now: Date): Promise<boolean> {
  const e = new Expr();
  const { sets, removes } = pendingSets(e, ref.roleName, {
    status: 'FAILED',
    error,
    nextCheckAt: undefined,
    updatedAt: now.toISOString(),
  });
  sets.push(bumpVersion(e, now));
  try {
    await update(store, ref.orgId, e, `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`, ownsPending(e, ref), 'record failure');
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

/**
 * Marks an execution's pending config ABANDONED (or FAILED) with an explanatory error, when that execution
 * still holds it and it is not already FAILED/ABANDONED. Used when a holder stopped outside any Catch
 * (RecordConfig takeover, ABORTED/TIMED_OUT status change). Returns whether it wrote.
 */
export async function markAbandoned(
  store: RecordStore,
  ref: ExecutionRef,
  args: { now: Date; reason: ConfigError; status?: 'ABANDONED' | 'FAILED' },
): Promise<boolean> {
  try {
    await updateOwnPending(
      store,
      ref,
      { status: args.status ?? 'ABANDONED', error: args.reason, nextCheckAt: undefined },
      args.now,
      'mark abandoned',
    );
    return true;
  } catch (err) {
    if (err instanceof StaleExecutionError) return false;
    throw err;
  }
}

