/**
 * Activate: ONE conditional write (activatePending) that succeeds only if the pending config belongs to
 * this execution, its status is VERIFIED, no check failed and no deactivation happened since RecordConfig
 * (the org's fence epoch is unchanged). It makes the pending config the serving one and points the org's
 * routing (`active`) at this backend. A stale or duplicate execution gets ActivationConflictError, a fenced
 * one OnboardingFencedError; a retry of this step after success is recognised and succeeds again.
 *
 * Storage locations (docs/locations.md) are part of the activation, not side effects: before the write, every
 * config that has served gets its location item (materialise); after it, the new config's item is put
 * (`serving`) and every other `serving` item is retired (reconcile: `replaced`, replacedBy, retiredBy = the
 * execution's requestedBy). Each of those is conditional and idempotent; one that fails throws (TransientError
 * on throttling: the state machine retries the step), and the retry, finding the config already active
 * (`alreadyActive`), runs them again and converges. The org item, the routing truth, is right throughout: it
 * is written once, and the current route needs no location item.
 *
 * The replaced config keeps its cross-org claims (claims.ts): retired is still connected; Offboard releases them.
 *
 * Once the location items are settled, nothing may report the activation as failed:
 * - *Backend Activated* and the audit item are tried a few times (injected sleep), then given up with an
 *   error log line and an EMF metric (`BinaryBackends/ActivationSideEffectFailures`), never an exception;
 * - the platform role's inline policy is rewritten from the records (every customer role of a config of the
 *   backend that is not offboarded, plus a newer in-progress pending one), re-checked after writing
 *   (syncPlatformRolePolicy), best effort. A re-onboarding with another customer role therefore keeps the
 *   old one assumable until its config is offboarded.
 */
import type { IAMClient } from '@aws-sdk/client-iam';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { OrgRecord, RecordStore } from '#shared/records/model';
import { getOrgRecord } from '#shared/records/read-sdk';
import { writeAuditEvent } from '#shared/records/audit';
import type { StepInput } from '#shared/records/workflow-context';
import { activatePending, isFenced, type Activation } from '#shared/records/lifecycle-writes';
import { DetailType, emitEvent } from '#shared/events';
import { locationOfConfig } from '#shared/records/location-read';
import { listLocations } from '#shared/records/location-read-sdk';
import {
  currentLocationOf,
  materializeLocations,
  putServingLocation,
  reconcileLocations,
  type RetiredLocation,
} from '#shared/records/locations';
import { ActivationConflictError, OnboardingFencedError, awsErrorName } from '#shared/errors';
import { logger } from '#shared/logger';
import { MetricUnit, emitMetric } from '#shared/metrics';
import { syncPlatformRolePolicy } from '#shared/platform-role';

export interface ActivateDeps {
  store: RecordStore;
  iam: IAMClient;
  events: EventBridgeClient;
  eventBusName: string;
  clock: () => Date;
  /** Between side-effect attempts; injected so tests never wait. Default: a real timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Where the EMF metric line goes; default: one JSON object per line on stdout. */
  emitMetric?: (line: string) => void;
}

export interface ActivationResult {
  activatedAt: string;
  configVersion: number;
  /** The backend that was active before (null = default storage). */
  previousActive: string | null;
  /** True when this execution had already activated (a retried step). */
  alreadyActive: boolean;
  /** The storage location of the activated config (docs/locations.md). */
  location: string;
  /** The locations this activation retired (a retried step also reports those retired in its favour before). */
  retired: Array<{ location: string; reason: RetiredLocation['reason'] }>;
  /** Whether the platform role's inline policy now names only the allowed customer roles. */
  platformPolicyNarrowed: boolean;
  /** Whether *Backend Activated* was emitted (false: given up after retries; logged and counted). */
  eventEmitted: boolean;
  /** Whether the audit item was written (false: given up after retries; logged and counted). */
  auditWritten: boolean;
}

export const METRIC_NAMESPACE = 'BinaryBackends';
export const SIDE_EFFECT_METRIC = 'ActivationSideEffectFailures';
/** Attempts per side effect after a successful activation write, with 100 ms, 200 ms between them. */
export const SIDE_EFFECT_ATTEMPTS = 3;

/** Activates this execution's verified config. Throws ActivationConflictError or OnboardingFencedError when it may not. */
export async function activate(input: StepInput, deps: ActivateDeps): Promise<ActivationResult> {
  const now = deps.clock();
  const ref = { orgId: input.orgId, roleName: input.roleName, executionArn: input.executionArn };
  // Under `when-active`, skipping approval was decided while the org served from default storage. If
  // another backend activated since, this activation would re-point an active org unapproved: refuse it.
  const requireDefaultStorage = input.approval?.policy === 'when-active' && !input.approval.required;
  // (1) Materialise: the configs that served so far (the current route included) get their location items,
  // so the reconcile below can retire the one this activation replaces.
  await materializeLocations(deps.store, await getOrgRecord(deps.store.ddb, deps.store.tableName, input.orgId), now);
  // (2) The one conditional activation write (stores `serving.location`).
  const activation = await activatePending(deps.store, ref, now, { requireDefaultStorage });
  if (!activation) throw await refusal(deps, input);
  // (3) + (4): throw on failure (the step retries and converges; see the module comment).
  const { location, retired } = await settleLocations(deps, input, activation, now);

  // From here on the activation happened: every failure below is logged and counted, never thrown.
  const platformPolicyNarrowed = await narrowPlatformPolicy(deps, input, activation.alreadyActive ? undefined : activation.record);
  // The replaced config keeps its cross-org claims: it is retired, still connected (downloads are signed into
  // its bucket + prefix with its customer role), so no other org may take them until it is offboarded, which
  // releases them (claims.ts, docs/locations.md).
  const activatedAt = activation.serving.activatedAt ?? now.toISOString();
  const eventEmitted = await bestEffort(deps, input, 'event', () =>
    emitEvent(deps.events, deps.eventBusName, DetailType.BackendActivated, {
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
    }),
  );
  const auditWritten = await bestEffort(deps, input, 'audit', () =>
    writeAuditEvent(deps.store, {
      orgId: input.orgId,
      executionName: input.executionName,
      step: 'Activate',
      attempt: 1,
      at: now.toISOString(),
      detail: {
        configVersion: activation.serving.configVersion,
        previousActive: activation.previousActive ?? null,
        previousConfigVersion: activation.previousServing?.configVersion ?? null,
        location,
        retired,
        platformPolicyNarrowed,
        eventEmitted,
      },
    }),
  );
  return {
    activatedAt,
    configVersion: activation.serving.configVersion,
    previousActive: activation.previousActive ?? null,
    alreadyActive: activation.alreadyActive,
    location,
    retired,
    platformPolicyNarrowed,
    eventEmitted,
    auditWritten,
  };
}

/**
 * After the activation write: puts the activated config's location item (`serving`, or, for a retried step
 * overtaken by a newer activation or a deactivation, materialises it as retired) and retires every other
 * `serving` item. Returns the activated config's location and what was retired in its favour.
 */
async function settleLocations(
  deps: ActivateDeps,
  input: StepInput,
  activation: Activation,
  now: Date,
): Promise<{ location: string; retired: ActivationResult['retired'] }> {
  const location = locationOfConfig(input.roleName, activation.serving);
  const current = currentLocationOf(activation.record);
  if (current === location) {
    const platformRoleArn = activation.record.backends?.[input.roleName]?.platformRoleArn ?? input.platformRole?.roleArn ?? input.platformRoleArn;
    await putServingLocation(deps.store, { orgId: input.orgId, roleName: input.roleName, config: activation.serving, platformRoleArn, now });
  } else {
    await materializeLocations(deps.store, activation.record, now);
  }
  const reconciled = await reconcileLocations(deps.store, {
    orgId: input.orgId,
    currentLocation: current,
    reason: current === undefined ? 'deactivated' : 'replaced',
    by: input.requestedBy,
    now,
  });
  const retired = new Map(reconciled.map((r) => [r.location, r.reason]));
  if (activation.alreadyActive) {
    // A retried step: an earlier attempt (or a racing reconcile) may have retired them already.
    for (const item of await listLocations(deps.store.ddb, deps.store.tableName, input.orgId)) {
      if (item.replacedBy === location && item.retiredReason && !retired.has(item.location)) retired.set(item.location, item.retiredReason);
    }
  }
  return { location, retired: [...retired].map(([l, reason]) => ({ location: l, reason })).sort((a, b) => (a.location < b.location ? -1 : 1)) };
}

/** Explains why activation was refused, from a fresh read. */
async function refusal(deps: ActivateDeps, input: StepInput): Promise<ActivationConflictError | OnboardingFencedError> {
  const record = await getOrgRecord(deps.store.ddb, deps.store.tableName, input.orgId);
  const pending = record?.backends?.[input.roleName]?.pending;
  if (record && pending?.executionArn === input.executionArn && isFenced(record, pending)) {
    return new OnboardingFencedError(
      `Execution ${input.executionName} may not activate backend ${input.roleName} of org ${input.orgId}: the org was ` +
        `deactivated while it ran (fence epoch ${pending.fenceEpoch ?? 0} -> ${record.fenceEpoch ?? 0}); the org stays on its current storage`,
    );
  }
  let why: string;
  if (!pending) why = 'the backend has no pending config';
  else if (pending.executionArn !== input.executionArn) why = `the pending config now belongs to ${pending.executionName}`;
  else if (pending.status !== 'VERIFIED') why = `its status is ${pending.status}, not VERIFIED`;
  else if (input.approval?.policy === 'when-active' && !input.approval.required && record?.active !== undefined) {
    why = `the org started routing to backend ${record.active} after this onboarding began, so it now needs approval; start it again`;
  }
  else why = `${pending.failedChecks ?? 0} verification check(s) failed`;
  return new ActivationConflictError(
    `Execution ${input.executionName} may not activate backend ${input.roleName} of org ${input.orgId}: ${why}`,
  );
}

/** Runs a side effect up to SIDE_EFFECT_ATTEMPTS times; then logs an error line, emits the metric and returns false. */
async function bestEffort(deps: ActivateDeps, input: StepInput, effect: 'event' | 'audit', run: () => Promise<unknown>): Promise<boolean> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let last: unknown;
  for (let attempt = 1; attempt <= SIDE_EFFECT_ATTEMPTS; attempt += 1) {
    try {
      await run();
      return true;
    } catch (err) {
      last = err;
      if (attempt < SIDE_EFFECT_ATTEMPTS) await sleep(100 * 2 ** (attempt - 1));
    }
  }
  const what = { event: 'Backend Activated event', audit: 'audit item' }[effect];
  logger.error(`Activated, but the ${what} could not be written; the activation stands`, {
    effect,
    orgId: input.orgId,
    roleName: input.roleName,
    executionName: input.executionName,
    errorName: awsErrorName(last),
    errorMessage: last instanceof Error ? last.message : String(last),
  });
  emitMetric(
    {
      namespace: METRIC_NAMESPACE,
      name: SIDE_EFFECT_METRIC,
      unit: MetricUnit.Count,
      value: 1,
      dimensions: { SideEffect: effect },
      metadata: { orgId: input.orgId, executionName: input.executionName },
      at: deps.clock(),
    },
    deps.emitMetric,
  );
  return false;
}

/**
 * Rewrites the platform role's policy to what the records allow after the activation (the customer role of
 * every config of the backend that is not offboarded, and a newer in-progress pending ARN if one was recorded
 * meanwhile), re-checking after the write. Best effort: the activation already happened, and the next
 * CreatePlatformRole rewrites the policy anyway.
 */
async function narrowPlatformPolicy(deps: ActivateDeps, input: StepInput, record: OrgRecord | undefined): Promise<boolean> {
  try {
    const arns = await syncPlatformRolePolicy(deps.iam, deps.store, input.orgId, input.roleName, { record });
    return arns.length > 0;
  } catch (err) {
    logger.warn('Activated, but could not narrow the platform role policy; the next onboarding rewrites it', {
      errorName: awsErrorName(err),
    });
    return false;
  }
}
