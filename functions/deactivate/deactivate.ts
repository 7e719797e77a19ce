/**
 * Deactivation (`binary-backends deactivate --org ID --confirm`): one conditional write removing the org's
 * routing (`active`), so the signer falls back to default storage, and bumping the org's fence epoch, so no
 * onboarding running at that moment can activate afterwards (Activate: OnboardingFencedError); plus an audit
 * event and a *Backend Deactivated* event. The result names the onboardings it fenced. Serving configs stay
 * in the record (support can still see what was active), and binaries stored in the customer's bucket stay
 * there: the result says so.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import * as z from 'zod/mini';
import { deactivateOrg, writeAuditEvent, type FencedOnboarding, type RecordStore } from '#shared/backend-records';
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
  const { previousActive, fenced, fenceEpoch, before } = await deactivateOrg(deps.store, { orgId: request.orgId, now });
  const at = now.toISOString();
  if (fenceEpoch === undefined) {
    return { orgId: request.orgId, deactivated: false, previousActive: null, deactivatedAt: at, fencedOnboardings: [] };
  }

  const serving = previousActive ? before?.backends?.[previousActive]?.serving : undefined;
  const where = serving ? `s3://${serving.upload.bucket}/${serving.upload.prefix ?? ''}` : `the bucket of backend ${previousActive}`;
  const warning = previousActive
    ? `Org ${request.orgId} now uses Peridio's default storage. Binaries already stored in ${where} stay there: ` +
      'they are not copied, and devices asking for them will not find them in default storage until they are uploaded again.'
    : undefined;

  await writeAuditEvent(deps.store, {
    orgId: request.orgId,
    executionName: `deactivate-${at.replace(/[:.]/g, '-')}`,
    step: 'Deactivate',
    attempt: 1,
    at,
    detail: {
      previousActive: previousActive ?? null,
      requestedBy: request.requestedBy ?? 'unknown',
      bucket: serving?.upload.bucket ?? null,
      fenceEpoch,
      fenced: fenced.map((f) => f.executionArn),
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
    ...(warning ? { warning } : {}),
  };
}
