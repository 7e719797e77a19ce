/**
 * Deactivation (`binary-backends deactivate --org ID --confirm`): one conditional write removing the org's
 * routing (`active`), so the signer falls back to default storage, and bumping the org's fence epoch, so no
 * onboarding running at that moment can activate afterwards (Activate: OnboardingFencedError); plus an audit
 * event and a *Backend Deactivated* event. The result names the onboardings it fenced. Serving configs stay
 * in the record (support can still see what was active), and binaries stored in the customer's bucket stay
 * there and stay downloadable through their location (docs/locations.md): the result says so.
 *
 * Storage locations: before the write, every config that has served gets its location item (materialise);
 * after it, every `serving` item is retired (`deactivated`, retiredBy = the caller). Both are conditional and
 * idempotent, so a repeated deactivation converges (it reconciles even when the fence is already written). An
 * org on default storage with nothing to retire writes nothing.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import * as z from 'zod/mini';
import type { RecordStore } from '#shared/records/model';
import { getOrgRecord } from '#shared/records/read-sdk';
import { writeAuditEvent } from '#shared/records/audit';
import { deactivateOrg, type FencedOnboarding } from '#shared/records/lifecycle-writes';
import { materializeLocations, reconcileLocations } from '#shared/records/locations';
import { DetailType, emitEvent } from '#shared/events';
import { orgIdSchema, parseOrThrow } from '#shared/validation';

export interface DeactivateDeps {
  store: RecordStore;
  events: EventBridgeClient;
  eventBusName: string;
  clock: () => Date;
}

export interface DeactivateResult {
  orgId: string;
  /** False when the org already used default storage (nothing was written). */
  deactivated: boolean;
  previousActive: string | null;
  deactivatedAt: string;
  /** Onboardings that were in progress and can no longer activate (each ends with OnboardingFencedError). */
  fencedOnboardings: FencedOnboarding[];
  /** The storage locations this call retired (`deactivated`): binaries there stay downloadable through them. */
  retired: Array<{ location: string; reason: 'deactivated' }>;
  warning?: string;
}

const requestSchema = z.strictObject({
  orgId: orgIdSchema,
  /** The CLI's caller identity. */
  requestedBy: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
  /** The CLI's --confirm; accepted, not required here (the CLI insists on it). */
  confirm: z.optional(z.boolean()),
});

/** Routes the org back to default storage. Throws ValidationError for a bad org ID. */
export async function deactivate(event: unknown, deps: DeactivateDeps): Promise<DeactivateResult> {
  const request = parseOrThrow(requestSchema, event);
  const now = deps.clock();
  const by = request.requestedBy ?? 'unknown';
  await materializeLocations(deps.store, await getOrgRecord(deps.store.ddb, deps.store.tableName, request.orgId), now);
  const { previousActive, fenced, fenceEpoch, before } = await deactivateOrg(deps.store, { orgId: request.orgId, now });
  const retired = (
    await reconcileLocations(deps.store, { orgId: request.orgId, currentLocation: undefined, reason: 'deactivated', by, now })
  ).map((r) => ({ location: r.location, reason: 'deactivated' as const }));
  const at = now.toISOString();
  if (fenceEpoch === undefined && retired.length === 0) {
    return { orgId: request.orgId, deactivated: false, previousActive: null, deactivatedAt: at, fencedOnboardings: [], retired };
  }

  const serving = previousActive ? before?.backends?.[previousActive]?.serving : undefined;
  const where = serving ? `s3://${serving.upload.bucket}/${serving.upload.prefix ?? ''}` : `the bucket of backend ${previousActive}`;
  const warning = previousActive
    ? `Org ${request.orgId} now uses Peridio's default storage for new uploads. Binaries already stored in ${where} stay there ` +
      '(they are not copied) and stay downloadable through their storage location' +
      (retired.length > 0 ? ` (${retired.map((r) => r.location).join(', ')})` : '') +
      ' until that config is offboarded.'
    : undefined;

  await writeAuditEvent(deps.store, {
    orgId: request.orgId,
    executionName: `deactivate-${at.replace(/[:.]/g, '-')}`,
    step: 'Deactivate',
    attempt: 1,
    at,
    detail: {
      previousActive: previousActive ?? null,
      requestedBy: by,
      bucket: serving?.upload.bucket ?? null,
      // null: the fence was already written (a repeated deactivation that only retired locations).
      fenceEpoch: fenceEpoch ?? null,
      fenced: fenced.map((f) => f.executionArn),
      retired,
    },
  });
  if (previousActive) {
    await emitEvent(deps.events, deps.eventBusName, DetailType.BackendDeactivated, {
      orgId: request.orgId,
      roleName: previousActive,
      requestedBy: request.requestedBy ?? null,
      deactivatedAt: at,
      bucket: serving?.upload.bucket ?? null,
      fencedExecutions: fenced.map((f) => f.executionArn),
      warning,
    });
  }
  return {
    orgId: request.orgId,
    deactivated: previousActive !== undefined,
    previousActive: previousActive ?? null,
    deactivatedAt: at,
    fencedOnboardings: fenced,
    retired,
    ...(warning ? { warning } : {}),
  };
}
