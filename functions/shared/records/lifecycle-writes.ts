/**
 * The writes that change what the org serves: activation (pending -> serving, `active` points at it) and
 * deactivation (`active` removed, `fenceEpoch` bumped), with the fence helpers RecordConfig and Activate use
 * to refuse an onboarding a deactivation overtook. Each is one conditional write on the org item
 * (expressions.ts), guarded by the record's `version`.
 */
import { TransientError } from '../errors';
import { locationFor } from '../identifiers';
import { IN_PROGRESS_STATUSES, type Backend, type BackendConfig, type ConfigStatus, type ExecutionRef, type OrgRecord, type RecordStore } from './model';
import { getOrgRecord } from './read-sdk';
import { Expr, bumpVersion, isConditionFailure, ownsPending, pendingPath, update } from './expressions';

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

