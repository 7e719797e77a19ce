/**
 * RequestApproval: the step Step Functions invokes with `lambda:invoke.waitForTaskToken`. It records the
 * task token and status AWAITING_APPROVAL on this execution's pending config (conditioned on the execution
 * still owning it), writes an audit item and emits *Approval Requested*, then returns. The execution then
 * waits until decideApproval sends SendTaskSuccess / SendTaskFailure, or the wait's timeout expires.
 *
 * The token goes only into the record (approval.ts says why that is safe): never into the event, the audit
 * item or the logs.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import * as z from 'zod/mini';
import type { RecordStore } from '#shared/records/model';
import { writeAuditEvent } from '#shared/records/audit';
import { parseStepInput, type StepInput } from '#shared/records/workflow-context';
import { DEFAULT_APPROVAL_TIMEOUT_SECONDS, recordApprovalRequest } from '#shared/approval';
import { StaleExecutionError } from '#shared/errors';
import { DetailType, emitEvent } from '#shared/events';
import { parseOrThrow } from '#shared/validation';

export interface RequestApprovalDeps {
  store: RecordStore;
  events: EventBridgeClient;
  eventBusName: string;
  clock: () => Date;
}

export interface ApprovalRequestResult {
  requestedAt: string;
  expiresAt: string;
}

const eventSchema = z.looseObject({ taskToken: z.string().check(z.minLength(1), z.maxLength(1024)), input: z.unknown() });

/** Records the approval request. Throws StaleExecutionError when this execution no longer owns a verified pending config. */
export async function requestApproval(event: unknown, deps: RequestApprovalDeps): Promise<ApprovalRequestResult> {
  const { taskToken, input: rawInput } = parseOrThrow(eventSchema, event) as { taskToken: string; input: unknown };
  const input: StepInput = parseStepInput(rawInput);
  const now = deps.clock();
  const timeoutSeconds = input.approval?.timeoutSeconds ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS;
  const requestedAt = now.toISOString();
  const expiresAt = new Date(now.getTime() + timeoutSeconds * 1000).toISOString();
  const ref = { orgId: input.orgId, roleName: input.roleName, executionArn: input.executionArn };

  const written = await recordApprovalRequest(deps.store, ref, { requestedBy: input.requestedBy, requestedAt, expiresAt, taskToken }, now);
  if (!written) {
    throw new StaleExecutionError(
      `Cannot request approval: execution ${input.executionName} no longer owns a verified pending config of backend ` +
        `${input.roleName} of org ${input.orgId}`,
    );
  }
  const facts = {
    orgId: input.orgId,
    roleName: input.roleName,
    executionArn: input.executionArn,
    executionName: input.executionName,
    configVersion: input.configVersion,
    requestedBy: input.requestedBy,
    policy: input.approval?.policy ?? null,
    activeBackend: input.approval?.activeAtStart ?? null,
    bucket: input.upload.bucket,
    region: input.upload.region,
    via: input.download.type,
    requestedAt,
    expiresAt,
  };
  await writeAuditEvent(deps.store, {
    orgId: input.orgId,
    executionName: input.executionName,
    step: 'RequestApproval',
    attempt: 1,
    at: requestedAt,
    detail: { requestedBy: input.requestedBy, policy: facts.policy, activeBackend: facts.activeBackend, expiresAt },
  });
  await emitEvent(deps.events, deps.eventBusName, DetailType.ApprovalRequested, facts);
  return { requestedAt, expiresAt };
}
