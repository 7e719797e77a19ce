/**
 * `binary-backends approve <execution>` and `binary-backends reject <execution> [--reason TEXT]`: a second
 * person decides an onboarding waiting in RequestApproval (DESIGN "Commands added"). The decideApproval
 * function only accepts a caller AWS verified, so the request goes through the front door, the HTTP API
 * with IAM authorization (`POST /approvals`, SigV4-signed with the caller's own credentials).
 */
import type { DecisionResult } from '../../functions/public';
import { AwsClients, VARS, requireEnv } from '../aws';
import { EXIT, UsageError, styleFor, writeJson, type CliIo, type ExitCode } from '../io';
import { decideThroughFrontDoor } from '../approval-transport';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function checkExecution(execution: string | undefined): string {
  if (!execution) throw new UsageError('<execution>: required, the execution name (from binary-backends status) or its ARN');
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(execution) && !/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{1,80}$/.test(execution)) {
    throw new UsageError('<execution>: must be an execution name ([A-Za-z0-9_-], at most 80 characters) or an execution ARN');
  }
  return execution;
}

function checkReason(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  if (reason.length === 0 || reason.length > 500) throw new UsageError('--reason: 1 to 500 characters');
  if (CONTROL.test(reason)) throw new UsageError('--reason: must not contain control or bidi characters');
  return reason;
}

/** Approves or rejects; prints who decided. Exit 0 decided, 1 refused (named error), 2 bad usage. */
export async function decide(
  decision: 'approve' | 'reject',
  execution: string | undefined,
  flags: { reason?: string; json?: boolean },
  io: CliIo,
): Promise<ExitCode> {
  const name = checkExecution(execution);
  const reason = checkReason(flags.reason);
  requireEnv(io.env, [VARS.api]);
  const clients = new AwsClients(io.env);
  try {
    const result = await decideThroughFrontDoor<DecisionResult>(clients, io.env, { execution: name, decision, ...(reason ? { reason } : {}) });
    io.onResult?.(decision, result);
    if (flags.json) {
      writeJson(io, result);
      return EXIT.ok;
    }
    const style = styleFor(io);
    const verb = result.decision === 'APPROVED' ? style.paint('green', 'Approved') : style.paint('red', 'Rejected');
    io.stdout.write(
      `${verb} ${result.executionArn}\n` +
        `  backend   "${result.roleName}" of org ${result.orgId}\n` +
        `  requested by ${result.requestedBy}\n` +
        `  decided   by ${result.decidedBy} at ${result.decidedAt}${result.reason ? `: ${result.reason}` : ''}\n` +
        (result.decision === 'APPROVED'
          ? '  The workflow activates the new config now (binary-backends status shows it).\n'
          : '  The onboarding ends with ApprovalRejectedError; the serving config keeps serving.\n'),
    );
    return EXIT.ok;
  } finally {
    clients.destroy();
  }
}
