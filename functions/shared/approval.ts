/**
 * Approval before an active org's storage changes (issue 9.2): the per-stage policy, the plan RecordConfig
 * puts in the workflow's context, and the two conditional writes on the pending config (the request, with
 * its task token, and the decision).
 *
 * The task token is a capability, not a credential: it lets its holder complete one waiting task, and only
 * decideApproval's role is allowed states:SendTaskSuccess / SendTaskFailure. It is kept on the pending
 * config only while the wait lasts (the decision removes it) and never goes into events or audit items.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ApprovalRecord, RecordStore } from './records/model';
import { asTransientOr, awsErrorName } from './errors';
import type { VariableSpec } from './config';
import { ORG_SK, orgPk } from './records/read';

/** `always`: every activation waits; `when-active` (default): only when the org already routes to a custom backend; `never`. */
export type ApprovalPolicy = 'always' | 'when-active' | 'never';
export const APPROVAL_POLICIES: readonly ApprovalPolicy[] = ['always', 'when-active', 'never'];
export const DEFAULT_APPROVAL_POLICY: ApprovalPolicy = 'when-active';
/** Three days: long enough for a weekend's hand-over, short enough that a forgotten request does not linger. */
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 3 * 24 * 3600;
/** Step Functions' own limit on a task timeout is far higher; a year is the execution limit. */
export const MAX_APPROVAL_TIMEOUT_SECONDS = 365 * 24 * 3600;

/** The APPROVAL_POLICY variable: one of the three policies, `when-active` when unset. */
export const approvalPolicyVariable: VariableSpec<ApprovalPolicy> = {
  read: (raw) =>
    raw === undefined || raw === ''
      ? { value: DEFAULT_APPROVAL_POLICY }
      : (APPROVAL_POLICIES as readonly string[]).includes(raw)
        ? { value: raw as ApprovalPolicy }
        : { problem: `must be one of ${APPROVAL_POLICIES.join(', ')} (got ${JSON.stringify(raw)})` },
};

/** What RecordConfig decides and every later state carries at `$.approval`. */
export interface ApprovalPlan {
  /** AfterCleanup goes to RequestApproval when true, straight to Activate otherwise. */
  required: boolean;
  policy: ApprovalPolicy;
  /** RequestApproval's `TimeoutSecondsPath`. */
  timeoutSeconds: number;
  /** The backend the org routed to when the plan was made (null = default storage). */
  activeAtStart: string | null;
}

export interface ApprovalSettings {
  policy: ApprovalPolicy;
  timeoutSeconds: number;
}

/** Whether this onboarding must wait for a second principal, given the org's routing now. */
export function approvalPlan(settings: ApprovalSettings, activeBackend: string | undefined): ApprovalPlan {
  const required = settings.policy === 'always' || (settings.policy === 'when-active' && activeBackend !== undefined);
  return { required, policy: settings.policy, timeoutSeconds: settings.timeoutSeconds, activeAtStart: activeBackend ?? null };
}

/** The approval state of a pending config: defined with the record's other shapes. */
export type { ApprovalRecord } from './records/model';

export interface ApprovalRef {
  orgId: string;
  roleName: string;
  executionArn: string;
}

function names(roleName: string): Record<string, string> {
  return {
    '#backends': 'backends',
    '#role': roleName,
    '#pending': 'pending',
    '#exec': 'executionArn',
    '#status': 'status',
    '#approval': 'approval',
    '#version': 'version',
    '#updatedAt': 'updatedAt',
    '#decision': 'decision',
    '#decidedBy': 'decidedBy',
    '#decidedAt': 'decidedAt',
    '#reason': 'reason',
    '#taskToken': 'taskToken',
  };
}
const P = '#backends.#role.#pending';

async function conditionalUpdate(store: RecordStore, orgId: string, params: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName' | 'Key'>, what: string): Promise<boolean> {
  // DynamoDB refuses names and values an expression does not use, so keep only the used ones.
  const text = `${params.UpdateExpression ?? ''} ${params.ConditionExpression ?? ''}`;
  const used = <T>(m: Record<string, T> | undefined) =>
    Object.fromEntries(Object.entries(m ?? {}).filter(([k]) => new RegExp(`${k}(?![A-Za-z0-9_])`).test(text)));
  try {
    await store.ddb.send(
      new UpdateCommand({
        TableName: store.tableName,
        Key: { pk: orgPk(orgId), sk: ORG_SK },
        ...params,
        ExpressionAttributeNames: used(params.ExpressionAttributeNames),
        ExpressionAttributeValues: used(params.ExpressionAttributeValues as Record<string, unknown>),
      }),
    );
    return true;
  } catch (err) {
    if (awsErrorName(err) === 'ConditionalCheckFailedException') return false;
    throw asTransientOr(err, `DynamoDB UpdateItem (${what})`);
  }
}

/**
 * Sets AWAITING_APPROVAL and the request (with the task token) on this execution's pending config, only if
 * this execution still owns it, it passed its checks (VERIFIED, or already AWAITING_APPROVAL on a retried
 * step) and nobody decided yet. Returns false, writing nothing, otherwise.
 */
export async function recordApprovalRequest(store: RecordStore, ref: ApprovalRef, request: ApprovalRecord, now: Date): Promise<boolean> {
  return conditionalUpdate(
    store,
    ref.orgId,
    {
      UpdateExpression: `SET ${P}.#status = :awaiting, ${P}.#approval = :approval, ${P}.#updatedAt = :now, #version = #version + :one, #updatedAt = :now`,
      ConditionExpression:
        `${P}.#exec = :me AND ${P}.#status IN (:verified, :awaiting) AND ` +
        `(attribute_not_exists(${P}.#approval) OR attribute_not_exists(${P}.#approval.#decidedAt))`,
      ExpressionAttributeNames: names(ref.roleName),
      ExpressionAttributeValues: {
        ':awaiting': 'AWAITING_APPROVAL',
        ':verified': 'VERIFIED',
        ':approval': request,
        ':now': now.toISOString(),
        ':one': 1,
        ':me': ref.executionArn,
      },
    },
    'record approval request',
  );
}

export interface ApprovalDecision {
  decision: 'APPROVED' | 'REJECTED';
  decidedBy: string;
  decidedAt: string;
  reason?: string;
  /** The token read with the request: the write only succeeds if it is still the waiting one. */
  taskToken: string;
  /** For a rejection, the error stored on the config at once (RecordFailure writes the same shortly after). */
  error?: { name: string; message: string; remediation: string; at: string };
}

/**
 * Records the decision on this execution's pending config and removes the task token, in one write
 * conditioned on the config still awaiting approval with that token and undecided: of two concurrent
 * deciders exactly one wins. Approval puts the status back to VERIFIED (what Activate requires);
 * rejection sets FAILED. Returns false, writing nothing, when the condition fails.
 */
export async function recordApprovalDecision(store: RecordStore, ref: ApprovalRef, d: ApprovalDecision): Promise<boolean> {
  const values: Record<string, unknown> = {
    ':awaiting': 'AWAITING_APPROVAL',
    ':token': d.taskToken,
    ':me': ref.executionArn,
    ':decision': d.decision,
    ':by': d.decidedBy,
    ':at': d.decidedAt,
    ':status': d.decision === 'APPROVED' ? 'VERIFIED' : 'FAILED',
    ':one': 1,
  };
  const sets = [
    `${P}.#approval.#decision = :decision`,
    `${P}.#approval.#decidedBy = :by`,
    `${P}.#approval.#decidedAt = :at`,
    `${P}.#status = :status`,
    `${P}.#updatedAt = :at`,
    '#version = #version + :one',
    '#updatedAt = :at',
  ];
  if (d.reason !== undefined) {
    sets.push(`${P}.#approval.#reason = :reason`);
    values[':reason'] = d.reason;
  }
  const attrNames = names(ref.roleName);
  if (d.error) {
    sets.push(`${P}.#error = :error`);
    values[':error'] = d.error;
    attrNames['#error'] = 'error';
  }
  return conditionalUpdate(
    store,
    ref.orgId,
    {
      UpdateExpression: `SET ${sets.join(', ')} REMOVE ${P}.#approval.#taskToken`,
      ConditionExpression:
        `${P}.#exec = :me AND ${P}.#status = :awaiting AND ${P}.#approval.#taskToken = :token AND ` +
        `attribute_not_exists(${P}.#approval.#decidedAt)`,
      ExpressionAttributeNames: attrNames,
      ExpressionAttributeValues: values,
    },
    'record approval decision',
  );
}

/** `claimed:x` and `x` name the same principal for the two-person rule. */
export function samePrincipal(a: string, b: string): boolean {
  const strip = (s: string) => s.replace(/^claimed:/, '').trim();
  return strip(a) === strip(b);
}
