/**
 * The org's record in DynamoDB: one item per org holds its routing and all its backends, so every
 * change (activation included) is one conditional UpdateItem, atomic without transactions (dynalite,
 * the local DynamoDB, has no TransactWriteItems), and the signer needs one GetItem per org.
 *
 *   pk "ORG#<orgId>"  sk "BACKENDS"                                   the OrgRecord below
 *   pk "ORG#<orgId>"  sk "EVENT#<executionName>#<step>#<attempt>"     audit trail (AuditEvent)
 *
 * Nothing secret is ever stored here: CloudFront keys are referenced by Secrets Manager ARN (+ version).
 */
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import { RoleNameConflictError, StaleExecutionError, TransientError, asTransientOr, awsErrorName } from './errors';
import { locationFor } from './identifiers';
import { orgIdSchema, parseOrThrow, roleNameSchema } from './validation';
import type { ApprovalPlan } from './approval';
import { ORG_SK, auditSk, findBackendIgnoringCase, orgPk } from './records/read';
import { getOrgRecord } from './records/read-sdk';

// The item shapes live in record-types.ts (no imports of this folder, so nothing here is circular).
export type {
  AuditEvent,
  Backend,
  BackendConfig,
  CheckOutcome,
  CheckResult,
  ConfigError,
  ConfigStatus,
  DownloadConfig,
  InflightClaim,
  OrgRecord,
  RecordStore,
  UploadConfig,
} from './records/model';
import type {
  AuditEvent,
  Backend,
  BackendConfig,
  CheckResult,
  ConfigError,
  ConfigStatus,
  DownloadConfig,
  InflightClaim,
  OrgRecord,
  RecordStore,
  UploadConfig,
} from './records/model';

// Keys and the read live in org-record.ts, which has no zod, so the signer can share them.
export { ORG_SK, auditSk, findBackendIgnoringCase, orgPk } from './records/read';
export { getOrgRecord } from './records/read-sdk';

// =============================================================================================
// The workflow's context: what RecordConfig returns and every later state receives.
// =============================================================================================

/** RecordConfig's output: the whole input of every later state (ASL `ResultPath: $`). Nothing secret. */
export interface OnboardingContext {
  orgId: string;
  roleName: string;
  configVersion: number;
  executionArn: string;
  executionName: string;
  requestedBy: string;
  /** From RecordConfig's injected clock (not `$$.Execution.StartTime`), so deadlines are testable. */
  startedAt: string;
  trustDeadlineAt: string;
  upload: UploadConfig;
  download: DownloadConfig;
  platformRoleArn: string;
  /** Whether AfterCleanup waits for a second principal (RequestApproval) before Activate. */
  approval?: ApprovalPlan;
}

/** CreatePlatformRole's result, at `$.platformRole`. */
export interface PlatformRoleResult {
  roleArn: string;
  trustPolicyReadyAt: string;
}

/** CheckTrust's result, at `$.trust`: the Choice loops to WaitForTrust while `trusted` is false. */
export interface TrustCheckResult {
  trusted: boolean;
  attempt: number;
  /** Seconds WaitForTrust waits (`SecondsPath: $.trust.waitSeconds`); 0 once trusted. */
  waitSeconds: number;
  nextCheckAt?: string;
  /** A short sentence describing what this check saw. */
  lastCheck: string;
}

/** What a state after RecordConfig receives: the context plus earlier states' ResultPaths. */
export interface StepInput extends OnboardingContext {
  platformRole?: PlatformRoleResult;
  trust?: TrustCheckResult;
  verifyUpload?: { canaryKeys: string[] };
  verifyDownload?: unknown;
  cleanup?: unknown;
  activation?: unknown;
  /** RequestApproval's result: what decideApproval sent with SendTaskSuccess. */
  approvalDecision?: { approvedBy: string; approvedAt: string };
  /** Set by a Catch (`ResultPath: $.error`). */
  error?: { Error?: string; Cause?: string };
}

/** Which execution a write is for, on which backend. */
export type ExecutionRef = Pick<OnboardingContext, 'orgId' | 'roleName' | 'executionArn'>;

/** Statuses of a config an execution is still working on. */
export const IN_PROGRESS_STATUSES: readonly ConfigStatus[] = ['PENDING', 'AWAITING_TRUST', 'VERIFYING', 'VERIFIED', 'AWAITING_APPROVAL'];
/** Statuses of a pending config whose execution is over without activating: the next onboarding may replace it. */
export const FINISHED_STATUSES: readonly ConfigStatus[] = ['FAILED', 'ABANDONED'];

// =============================================================================================
// Mutations. Every one is a single conditional write on the org item (or an audit item), bumps
// `version`, and translates throttling/5xx into TransientError. DynamoDB (and dynalite) refuse an
// update whose path's parent map does not exist, and refuse overlapping paths in one expression, so
// the org item, its `backends` map and the backend entry are created by ensureBackend first, each with
// if_not_exists (idempotent under retries and races).
// =============================================================================================

/** Fields of a pending config that setPendingStatus / recordTrustAttempt may set besides the status. */
export type PendingFields = Partial<
  Pick<BackendConfig, 'attempts' | 'lastCheckedAt' | 'lastCheckResult' | 'nextCheckAt' | 'trustPolicyReadyAt'>
>;

function isConditionFailure(err: unknown): boolean {
  return awsErrorName(err) === 'ConditionalCheckFailedException';
}

/**
 * Builds expression attribute names and values. Every attribute name goes through a placeholder,
 * because role names may hold `. @ = , +` and words like `status` and `version` are reserved.
 */
class Expr {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private readonly byName = new Map<string, string>();
  private valueCount = 0;

  /** `a.b.c` as `#n0.#n1.#n2`. */
  path(...attrs: string[]): string {
    return attrs
      .map((a) => {
        let key = this.byName.get(a);
        if (!key) {
          key = `#n${this.byName.size}`;
          this.byName.set(a, key);
          this.names[key] = a;
        }
        return key;
      })
      .join('.');
  }

  value(v: unknown): string {
    const key = `:v${this.valueCount++}`;
    this.values[key] = v;
    return key;
  }
}

function pendingPath(e: Expr, roleName: string, ...rest: string[]): string {
  return e.path('backends', roleName, 'pending', ...rest);
}

/** `pending.executionArn = :me`: this execution still owns the backend's pending config. */
function ownsPending(e: Expr, ref: ExecutionRef): string {
  return `${pendingPath(e, ref.roleName, 'executionArn')} = ${e.value(ref.executionArn)}`;
}

function bumpVersion(e: Expr, now: Date): string {
  return `${e.path('version')} = ${e.path('version')} + ${e.value(1)}, ${e.path('updatedAt')} = ${e.value(now.toISOString())}`;
}

async function update(
  store: RecordStore,
  orgId: string,
  e: Expr,
  updateExpression: string,
  conditionExpression: string | undefined,
  what: string,
  returnValues?: 'ALL_OLD' | 'ALL_NEW',
): Promise<Record<string, unknown> | undefined> {
  try {
    const out = await store.ddb.send(
      new UpdateCommand({
        TableName: store.tableName,
        Key: { pk: orgPk(orgId), sk: ORG_SK },
        UpdateExpression: updateExpression,
        ConditionExpression: conditionExpression,
        ExpressionAttributeNames: e.names,
        ExpressionAttributeValues: Object.keys(e.values).length > 0 ? e.values : undefined,
        ReturnValues: returnValues,
      }),
    );
    return out.Attributes;
  } catch (err) {
    if (isConditionFailure(err)) throw err;
    throw asTransientOr(err, `DynamoDB UpdateItem (${what})`);
  }
}

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

/** Sets pending.<field> for each defined field, and REMOVEs those explicitly set to undefined in `remove`. */
function pendingSets(e: Expr, roleName: string, fields: Record<string, unknown>): { sets: string[]; removes: string[] } {
  const sets: string[] = [];
  const removes: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) removes.push(pendingPath(e, roleName, k));
    else sets.push(`${pendingPath(e, roleName, k)} = ${e.value(v)}`);
  }
  return { sets, removes };
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

export interface Activation {
  serving: BackendConfig;
  /** The config that served before, when this was a re-onboarding. */
  previousServing?: BackendConfig;
  /** The backend that was active before (undefined = default storage). */
  previousActive?: string;
  /** True when this execution had already activated (a retried Activate). */
  alreadyActive: boolean;
  /** The org record as this activation left it (for narrowing the platform role's policy). */
  record: OrgRecord;
}

/** The org's current fence epoch (absent = 0). */
export function fenceEpochOf(record: Pick<OrgRecord, 'fenceEpoch'> | undefined): number {
  return record?.fenceEpoch ?? 0;
}

/**
 * True when the starter claimed this execution before the last deactivation (it was running, RecordConfig
 * had not run yet): RecordConfig refuses it with OnboardingFencedError.
 */
export function startedBeforeFence(record: Pick<OrgRecord, 'fencedAt'>, backend: Pick<Backend, 'inflight'>, executionArn: string): boolean {
  const claim = backend.inflight;
  return !!record.fencedAt && claim?.executionArn === executionArn && Date.parse(claim.at) <= Date.parse(record.fencedAt);
}

/** True when a deactivation happened since this pending config was recorded (Activate must refuse). */
export function isFenced(record: Pick<OrgRecord, 'fenceEpoch'>, config: Pick<BackendConfig, 'fenceEpoch'>): boolean {
  return fenceEpochOf(record) !== (config.fenceEpoch ?? 0);
}

/**
 * Activation, as ONE conditional write: succeeds only if the pending config is this execution's, its
 * status is VERIFIED, no check failed, and the org's fence epoch is the one the config was recorded under
 * (no deactivation since). Moves pending -> serving (status ACTIVE, activatedAt, location) and points `active` at
 * this backend. Returns undefined when it may not (the caller explains why, from a fresh read). A retry
 * after success (the serving config is this execution's) returns `alreadyActive: true`, whatever happened
 * since.
 */
export async function activatePending(
  store: RecordStore,
  ref: ExecutionRef,
  now: Date,
  opts: { requireDefaultStorage?: boolean } = {},
): Promise<Activation | undefined> {
  for (let round = 0; round < 5; round += 1) {
    const record = await getOrgRecord(store.ddb, store.tableName, ref.orgId);
    const backend = record?.backends?.[ref.roleName];
    if (!record || !backend) return undefined;
    if (backend.serving?.executionArn === ref.executionArn && backend.serving.status === 'ACTIVE' && backend.pending?.executionArn !== ref.executionArn) {
      return { serving: backend.serving, alreadyActive: true, previousActive: record.active, record };
    }
    const pending = backend.pending;
    if (
      !pending ||
      pending.executionArn !== ref.executionArn ||
      pending.status !== 'VERIFIED' ||
      (pending.failedChecks ?? 0) > 0 ||
      isFenced(record, pending)
    ) {
      return undefined;
    }
    // Approval was skipped because the org served from default storage: it still must (approval.ts).
    if (opts.requireDefaultStorage && record.active !== undefined) return undefined;
    const serving: BackendConfig = {
      ...pending,
      status: 'ACTIVE',
      activatedAt: now.toISOString(),
      updatedAt: now.toISOString(),
      // Names the current route's storage location (docs/locations.md); the signer reads it from here.
      location: locationFor(ref.roleName, pending.configVersion),
    };
    delete serving.nextCheckAt;
    const e = new Expr();
    const expression =
      `SET ${e.path('backends', ref.roleName, 'serving')} = ${e.value(serving)}, ` +
      `${e.path('active')} = ${e.value(ref.roleName)}, ${bumpVersion(e, now)} ` +
      `REMOVE ${e.path('backends', ref.roleName, 'pending')}`;
    // `version` pins everything read above (the pending config we copy included); the other clauses say
    // the rule itself (own pending, VERIFIED, no failed check, not fenced), so the write is safe on its own.
    const seenEpoch = pending.fenceEpoch ?? 0;
    const fence =
      seenEpoch === 0
        ? `(attribute_not_exists(${e.path('fenceEpoch')}) OR ${e.path('fenceEpoch')} = ${e.value(0)})`
        : `${e.path('fenceEpoch')} = ${e.value(seenEpoch)}`;
    const condition =
      `${e.path('version')} = ${e.value(record.version)} AND ${ownsPending(e, ref)} AND ` +
      `${pendingPath(e, ref.roleName, 'status')} = ${e.value('VERIFIED')} AND ` +
      `(attribute_not_exists(${pendingPath(e, ref.roleName, 'failedChecks')}) OR ${pendingPath(e, ref.roleName, 'failedChecks')} = ${e.value(0)}) AND ` +
      fence +
      (opts.requireDefaultStorage ? ` AND attribute_not_exists(${e.path('active')})` : '');
    try {
      const after = await update(store, ref.orgId, e, expression, condition, 'activate', 'ALL_NEW');
      return {
        serving,
        previousServing: backend.serving,
        previousActive: record.active,
        alreadyActive: false,
        record: after as unknown as OrgRecord,
      };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }
  return undefined;
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

/** An onboarding a deactivation fenced: it can no longer activate. */
export interface FencedOnboarding {
  roleName: string;
  executionName: string;
  executionArn: string;
  /** The pending config's status when it was fenced; STARTING: started, RecordConfig has not run yet. */
  status: ConfigStatus | 'STARTING';
}

/** How long after the starter's claim an execution without a pending config still counts as starting. */
export const STARTING_WINDOW_SECONDS = 300;

export interface Deactivation {
  /** The backend that was active (undefined: the org already used default storage). */
  previousActive?: string;
  /** The org's fence epoch after the write (undefined: nothing was written). */
  fenceEpoch?: number;
  /** The onboardings in progress at the time, which can no longer activate. */
  fenced: FencedOnboarding[];
  /** The record as it was before the write. */
  before?: OrgRecord;
}

/**
 * Deactivation: ONE conditional write (guarded by the record's `version`, retried on a lost race) that
 * removes `active` (routing falls back to default storage) and bumps `fenceEpoch`, which fences every
 * onboarding in progress: Activate requires the epoch its config was recorded under. Serving configs are
 * kept, so support can see what was active. Nothing is written when the org uses default storage and has
 * no onboarding in progress.
 */
export async function deactivateOrg(store: RecordStore, args: { orgId: string; now: Date }): Promise<Deactivation> {
  for (let round = 0; round < 5; round += 1) {
    const record = await getOrgRecord(store.ddb, store.tableName, args.orgId);
    if (!record) return { fenced: [] };
    const fenced: FencedOnboarding[] = Object.values(record.backends ?? {}).flatMap((b): FencedOnboarding[] => {
      const out: FencedOnboarding[] = [];
      if (b.pending && IN_PROGRESS_STATUSES.includes(b.pending.status)) {
        out.push({ roleName: b.roleName, executionName: b.pending.executionName, executionArn: b.pending.executionArn, status: b.pending.status });
      }
      // Started by the starter, RecordConfig not run yet: it will find its claim older than `fencedAt` and stop.
      const claim = b.inflight;
      if (
        claim &&
        claim.executionArn !== b.pending?.executionArn &&
        args.now.getTime() - Date.parse(claim.at) < STARTING_WINDOW_SECONDS * 1000
      ) {
        out.push({ roleName: b.roleName, executionName: claim.executionName, executionArn: claim.executionArn, status: 'STARTING' });
      }
      return out;
    });
    if (record.active === undefined && fenced.length === 0) return { fenced: [], before: record };
    const e = new Expr();
    const epoch = fenceEpochOf(record) + 1;
    try {
      await update(
        store,
        args.orgId,
        e,
        `SET ${e.path('fenceEpoch')} = ${e.value(epoch)}, ${e.path('fencedAt')} = ${e.value(args.now.toISOString())}, ` +
          `${bumpVersion(e, args.now)} REMOVE ${e.path('active')}`,
        `${e.path('version')} = ${e.value(record.version)}`,
        'deactivate',
      );
      return { previousActive: record.active, fenceEpoch: epoch, fenced, before: record };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }
  throw new TransientError(`deactivate org ${args.orgId}: the org record kept changing; retry`);
}

/**
 * Writes one audit event, `EVENT#<executionName>#<step>#<attempt>`, with attribute_not_exists: a retried
 * step neither duplicates nor loses it. Returns false for a duplicate (a no-op).
 */
export async function writeAuditEvent(
  store: RecordStore,
  event: Omit<AuditEvent, 'pk' | 'sk'>,
): Promise<boolean> {
  const item: AuditEvent = { pk: orgPk(event.orgId), sk: auditSk(event.executionName, event.step, event.attempt), ...event };
  try {
    await store.ddb.send(
      new PutCommand({
        TableName: store.tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(pk) AND attribute_not_exists(sk)',
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw asTransientOr(err, 'DynamoDB PutItem (audit event)');
  }
}

// =============================================================================================
// Parsing a state's input at the boundary.
// =============================================================================================

const nonEmpty = () => z.string().check(z.minLength(1));

const uploadInContext = z.looseObject({
  bucket: nonEmpty(),
  region: nonEmpty(),
  roleArn: nonEmpty(),
  accountId: z.string().check(z.regex(/^\d{12}$/)),
  prefix: z.optional(z.string()),
});

const contextSchema = z.looseObject({
  orgId: orgIdSchema,
  roleName: roleNameSchema,
  configVersion: z.number().check(z.int(), z.gte(1)),
  executionArn: nonEmpty(),
  executionName: nonEmpty(),
  requestedBy: nonEmpty(),
  startedAt: z.iso.datetime(),
  trustDeadlineAt: z.iso.datetime(),
  upload: uploadInContext,
  download: z.looseObject({ type: z.enum(['s3', 'cloudfront']) }),
  platformRoleArn: nonEmpty(),
});

/**
 * A state's input (RecordConfig's context plus earlier results), checked for the fields every step relies
 * on. Extra fields pass through. Throws ValidationError naming the bad fields.
 */
export function parseStepInput(input: unknown): StepInput {
  return parseOrThrow(contextSchema, input) as unknown as StepInput;
}
