/**
 * decideApproval (`binary-backends approve|reject <execution>`, `POST /approvals` on the HTTP API): a
 * second principal approves or rejects an onboarding waiting in RequestApproval.
 *
 * - The decider must be a verified caller (API Gateway's IAM authorizer, caller.ts) and not the requester.
 * - The execution must be this state machine's, RUNNING, and its pending config AWAITING_APPROVAL with an
 *   undecided request.
 * - The decision is written first (one conditional write that also removes the task token, so of two
 *   deciders exactly one wins), then sent: approve -> SendTaskSuccess `{approvedBy, approvedAt}` (execution
 *   history shows who approved), reject -> SendTaskFailure `ApprovalRejectedError` with the reason.
 *   Writing first matters: Activate requires status VERIFIED, which the approval write restores.
 * - Each refusal is a named error and changes nothing. An audit item records who decided what, and when.
 */
import { DescribeExecutionCommand, SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod/mini';
import type { RecordStore } from '#shared/records/model';
import { getOrgRecord } from '#shared/records/read-sdk';
import { writeAuditEvent } from '#shared/records/audit';
import { recordApprovalDecision, samePrincipal } from '#shared/approval';
import { isHttpApiEvent, httpApiBody, verifiedCaller, type Caller } from '#shared/caller';
import {
  ApprovalNotAllowedError,
  ApprovalNotPendingError,
  ValidationError,
  asTransientOr,
  awsErrorName,
  remediationFor,
} from '#shared/errors';
import { parseOrThrow } from '#shared/validation';
import { executionArnOf, executionNameOf } from '#shared/executions';

export interface DecideApprovalDeps {
  store: RecordStore;
  sfn: SFNClient;
  clock: () => Date;
  /** The onboarding state machine: only its executions can be decided. */
  stateMachineArn: string;
}

export interface DecisionResult {
  executionArn: string;
  orgId: string;
  roleName: string;
  decision: 'APPROVED' | 'REJECTED';
  requestedBy: string;
  decidedBy: string;
  decidedAt: string;
  reason?: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const requestSchema = z.strictObject({
  /** The execution's name or ARN. */
  execution: z.string().check(z.minLength(1), z.maxLength(2048)),
  decision: z.enum(['approve', 'reject']),
  /** Why (rejections mostly); printable text only, at most 500 characters. */
  reason: z.optional(
    z.string().check(
      z.maxLength(500),
      z.refine((s) => !CONTROL.test(s), { error: 'must not contain control or bidi characters' }),
    ),
  ),
});

/** Decides an approval. Throws ValidationError, ApprovalNotAllowedError or ApprovalNotPendingError (nothing changed). */
export async function decideApproval(event: unknown, deps: DecideApprovalDeps): Promise<DecisionResult> {
  const caller = callerOf(event);
  let body: unknown;
  try {
    body = httpApiBody(event as never);
  } catch {
    throw new ValidationError('body: must be JSON', ['body']);
  }
  const request = parseOrThrow(requestSchema, body);
  const executionArn = executionArnFor(request.execution, deps.stateMachineArn);

  const execution = await describe(deps.sfn, executionArn);
  const { orgId, roleName } = executionTarget(execution.input, executionArn);
  const record = await getOrgRecord(deps.store.ddb, deps.store.tableName, orgId);
  const pending = record?.backends?.[roleName]?.pending;
  const approval = pending?.approval;
  if (!pending || pending.executionArn !== executionArn || pending.status !== 'AWAITING_APPROVAL' || !approval?.taskToken || approval.decidedAt) {
    throw notPending(executionArn, pending ? `its config is ${pending.executionArn === executionArn ? pending.status : 'held by another execution'}` : 'no config is pending');
  }
  const requestedBy = approval.requestedBy ?? pending.requestedBy;
  if (samePrincipal(caller.arn, requestedBy) || samePrincipal(caller.arn, pending.requestedBy)) {
    throw new ApprovalNotAllowedError(
      `${caller.arn} requested this onboarding and cannot also decide it: a second principal must run binary-backends approve|reject ${executionNameOf(executionArn)}`,
    );
  }

  const decidedAt = deps.clock().toISOString();
  const decision = request.decision === 'approve' ? 'APPROVED' : 'REJECTED';
  const rejection =
    decision === 'REJECTED'
      ? `Rejected by ${caller.arn} at ${decidedAt}${request.reason ? `: ${request.reason}` : ''}`
      : undefined;
  const won = await recordApprovalDecision(deps.store, { orgId, roleName, executionArn }, {
    decision,
    decidedBy: caller.arn,
    decidedAt,
    taskToken: approval.taskToken,
    ...(request.reason !== undefined ? { reason: request.reason } : {}),
    ...(rejection
      ? { error: { name: 'ApprovalRejectedError', message: rejection, remediation: remediationFor('ApprovalRejectedError'), at: decidedAt } }
      : {}),
  });
  if (!won) throw notPending(executionArn, 'it was decided or ended meanwhile');

  await sendDecision(deps.sfn, approval.taskToken, executionArn, decision === 'APPROVED' ? { approvedBy: caller.arn, approvedAt: decidedAt } : undefined, rejection);

  await writeAuditEvent(deps.store, {
    orgId,
    executionName: executionNameOf(executionArn),
    step: 'ApprovalDecision',
    attempt: 1,
    at: decidedAt,
    detail: { decision, decidedBy: caller.arn, requestedBy, ...(request.reason !== undefined ? { reason: request.reason } : {}) },
  });
  return {
    executionArn,
    orgId,
    roleName,
    decision,
    requestedBy,
    decidedBy: caller.arn,
    decidedAt,
    ...(request.reason !== undefined ? { reason: request.reason } : {}),
  };
}

/** The verified caller; anything else (a direct invoke, an event, an unauthenticated route) is refused. */
function callerOf(event: unknown): Caller {
  const caller = isHttpApiEvent(event) ? verifiedCaller(event) : undefined;
  if (!caller) {
    throw new ApprovalNotAllowedError(
      'Approvals are accepted only from a caller AWS verified (the HTTP API with IAM authorization); this request carries no verified identity',
    );
  }
  return caller;
}

/** A name becomes this state machine's execution ARN; an ARN must be one of this state machine's executions. */
function executionArnFor(execution: string, stateMachineArn: string): string {
  if (!execution.startsWith('arn:')) {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(execution)) {
      throw new ValidationError('execution: must be an execution name ([A-Za-z0-9_-], at most 80) or an execution ARN', ['execution']);
    }
    return executionArnOf(stateMachineArn, execution);
  }
  const prefix = `${executionArnOf(stateMachineArn, '')}`;
  const name = execution.slice(prefix.length);
  if (!execution.startsWith(prefix) || !/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
    throw notPending(execution, 'it is not an execution of the onboarding state machine');
  }
  return execution;
}

async function describe(sfn: SFNClient, executionArn: string): Promise<{ input: string }> {
  try {
    const out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (out.status !== 'RUNNING') throw notPending(executionArn, `it is ${out.status ?? 'not running'}`);
    return { input: out.input ?? '{}' };
  } catch (err) {
    if (err instanceof ApprovalNotPendingError) throw err;
    if (awsErrorName(err) === 'ExecutionDoesNotExist') throw notPending(executionArn, 'it does not exist');
    throw asTransientOr(err, 'Step Functions DescribeExecution');
  }
}

function executionTarget(input: string, executionArn: string): { orgId: string; roleName: string } {
  try {
    const parsed = JSON.parse(input) as { orgId?: unknown; roleName?: unknown };
    if (typeof parsed.orgId === 'string' && typeof parsed.roleName === 'string') return { orgId: parsed.orgId, roleName: parsed.roleName };
  } catch {
    // fall through
  }
  throw notPending(executionArn, 'its input names no org and backend');
}

async function sendDecision(
  sfn: SFNClient,
  taskToken: string,
  executionArn: string,
  approved: { approvedBy: string; approvedAt: string } | undefined,
  rejection: string | undefined,
): Promise<void> {
  try {
    if (approved) await sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(approved) }));
    else await sfn.send(new SendTaskFailureCommand({ taskToken, error: 'ApprovalRejectedError', cause: rejection }));
  } catch (err) {
    const name = awsErrorName(err);
    if (name === 'TaskTimedOut' || name === 'TaskDoesNotExist' || name === 'InvalidToken') {
      throw notPending(executionArn, `Step Functions answered ${name}: the wait had already ended`);
    }
    // The decision is recorded but the workflow was not told; it ends when the approval wait expires.
    throw asTransientOr(err, 'Step Functions SendTask (the decision is recorded; the wait expires unless told)');
  }
}

function notPending(executionArn: string, why: string): ApprovalNotPendingError {
  return new ApprovalNotPendingError(`Execution ${executionNameOf(executionArn)} is not awaiting approval: ${why}`);
}
