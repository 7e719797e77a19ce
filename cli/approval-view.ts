/**
 * Who asked and who decided, for `status` (from the record) and `history` (from the execution history).
 * The task token on a waiting config is never shown: it is a capability only decideApproval uses.
 */
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import type { ApprovalRecord } from '../functions/public';

export interface ApprovalSummary {
  state: 'AWAITING' | 'APPROVED' | 'REJECTED' | 'EXPIRED';
  requestedBy?: string;
  requestedAt?: string;
  expiresAt?: string;
  decidedBy?: string;
  decidedAt?: string;
  reason?: string;
}

/** The approval on a config record, without its task token. */
export function approvalOfConfig(a: ApprovalRecord | undefined, errorName?: string): ApprovalSummary | undefined {
  if (!a) return undefined;
  const state = a.decision ?? (errorName === 'ApprovalExpiredError' ? 'EXPIRED' : 'AWAITING');
  return {
    state,
    requestedBy: a.requestedBy,
    requestedAt: a.requestedAt,
    expiresAt: a.expiresAt,
    ...(a.decidedBy ? { decidedBy: a.decidedBy, decidedAt: a.decidedAt } : {}),
    ...(a.reason ? { reason: a.reason } : {}),
  };
}

/** The approval of an execution, read from its history: RequestApproval's result, failure or timeout. */
export function approvalOfExecution(events: HistoryEvent[]): ApprovalSummary | undefined {
  const entered = events.findIndex((e) => e.type === 'TaskStateEntered' && e.stateEnteredEventDetails?.name === 'RequestApproval');
  if (entered < 0) return undefined;
  const requestedAt = events[entered]!.timestamp ? new Date(events[entered]!.timestamp!).toISOString() : undefined;
  for (const e of events.slice(entered + 1)) {
    if (e.type === 'TaskSucceeded') {
      const out = parse(e.taskSucceededEventDetails?.output) as { approvedBy?: string; approvedAt?: string } | undefined;
      return { state: 'APPROVED', requestedAt, decidedBy: out?.approvedBy, decidedAt: out?.approvedAt };
    }
    if (e.type === 'TaskFailed' && e.taskFailedEventDetails?.error === 'ApprovalRejectedError') {
      const cause = e.taskFailedEventDetails.cause ?? '';
      const m = /^Rejected by (\S+) at (\S+?)(?:: (.*))?$/s.exec(cause);
      return { state: 'REJECTED', requestedAt, ...(m ? { decidedBy: m[1], decidedAt: m[2], ...(m[3] ? { reason: m[3] } : {}) } : { reason: cause }) };
    }
    if (e.type === 'TaskTimedOut') return { state: 'EXPIRED', requestedAt };
    if (e.type === 'TaskStateExited') break;
  }
  return { state: 'AWAITING', requestedAt };
}

/** One line for people: who asked, who decided. */
export function approvalLine(a: ApprovalSummary, executionName?: string): string {
  const asked = `${a.requestedBy ? `asked by ${a.requestedBy}` : 'asked'}${a.requestedAt ? ` at ${a.requestedAt}` : ''}`;
  switch (a.state) {
    case 'APPROVED':
      return `approved by ${a.decidedBy ?? '?'} at ${a.decidedAt ?? '?'} (${asked})`;
    case 'REJECTED':
      return `rejected by ${a.decidedBy ?? '?'} at ${a.decidedAt ?? '?'}${a.reason ? `: ${a.reason}` : ''} (${asked})`;
    case 'EXPIRED':
      return `expired without a decision (${asked})`;
    default:
      return (
        `awaiting approval by a second person (${asked}${a.expiresAt ? `, expires ${a.expiresAt}` : ''})` +
        (executionName ? `: binary-backends approve ${executionName}  or  binary-backends reject ${executionName} --reason ...` : '')
      );
  }
}

function parse(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
