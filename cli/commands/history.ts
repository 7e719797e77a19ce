/**
 * `binary-backends history`: the operator's timeline of an org's onboardings, from Step Functions'
 * execution history (not from the record, which the workflow could fail to write), and the storage
 * changes that no execution history shows: retirements and offboardings, from the audit trail in the
 * table (docs/locations.md "Audit steps").
 *
 * With --follow it then watches the newest execution that is still running through the follow view
 * (cli/follow-view.ts, the same progress `onboard --follow` shows); Ctrl-C stops watching, not the execution.
 */
import { AwsClients, VARS, requireEnv } from '../aws';
import {
  executionHistory,
  listOrgExecutions,
  stepRuns,
  terminalError,
  timeline,
  type ExecutionError,
  type TimelineEntry,
} from '../executions';
import { CommandFailure, EXIT, UsageError, humanDuration, paintStatus, printableValues, styleFor, writeJson, type CliIo, type ExitCode } from '../io';
import { follow } from '../follow-view';
import { checkOrg, checkRoleName } from './records-view';
import { approvalLine, approvalOfExecution, type ApprovalSummary } from '../approval-view';
import { readAuditEvents, storageChanges, type StorageChange } from '../records';

export interface HistoryResult {
  orgId: string;
  roleName?: string;
  executions: {
    name: string;
    executionArn: string;
    status: string;
    startedAt?: string;
    stoppedAt?: string;
    durationMs?: number;
    requestedBy?: string;
    configVersion?: number;
    download?: string;
    timeline: TimelineEntry[];
    error?: ExecutionError;
    /** Who asked (requestedBy) and who approved or rejected, when the execution waited for approval. */
    approval?: ApprovalSummary;
  }[];
  /** Retirements (Activate, Deactivate) and offboardings, oldest first. */
  changes: StorageChange[];
}

export interface HistoryFlags {
  org?: string;
  roleName?: string;
  follow?: boolean;
  json?: boolean;
}

/**
 * The execution `history --follow` watches: the newest one still running (`executions` as in HistoryResult,
 * oldest first), or undefined when none is.
 */
export function executionToFollow<T extends { status: string; startedAt?: string }>(executions: T[]): T | undefined {
  return executions
    .filter((x) => x.status === 'RUNNING')
    .reduce<T | undefined>((newest, x) => (!newest || (x.startedAt ?? '') >= (newest.startedAt ?? '') ? x : newest), undefined);
}

export async function history(flags: HistoryFlags, io: CliIo): Promise<ExitCode> {
  // The follow view prints progress lines, not JSON lines: refuse before reading anything.
  if (flags.follow && flags.json) {
    throw new UsageError('--follow: cannot be combined with --json (the follow view prints progress lines, not JSON); use one or the other');
  }
  const orgId = checkOrg(flags.org);
  const roleName = flags.roleName === undefined ? undefined : checkRoleName(flags.roleName);
  const env = requireEnv(io.env, [VARS.stateMachine, VARS.table]);
  const clients = new AwsClients(io.env);
  try {
    const [list, events] = await Promise.all([
      listOrgExecutions(clients.sfn, env[VARS.stateMachine], orgId, roleName),
      readAuditEvents(clients.dynamo, env[VARS.table], orgId),
    ]);
    const result: HistoryResult = { orgId, roleName, executions: [], changes: storageChanges(events, roleName) };
    /** Each execution's backend, from its input (execution names carry the role name encoded). */
    const backendOf = new Map<string, string>();
    for (const item of list.reverse()) {
      const events = await executionHistory(clients.sfn, item.executionArn!);
      const started = events.find((e) => e.executionStartedEventDetails)?.executionStartedEventDetails?.input;
      const input = safeParse(started) as
        | { roleName?: string; requestedBy?: string; configVersion?: number; download?: { type?: string; host?: string } }
        | undefined;
      if (typeof input?.roleName === 'string') backendOf.set(item.executionArn!, input.roleName);
      result.executions.push({
        name: item.name!,
        executionArn: item.executionArn!,
        status: item.status ?? 'UNKNOWN',
        startedAt: item.startDate?.toISOString(),
        stoppedAt: item.stopDate?.toISOString(),
        durationMs: item.startDate && item.stopDate ? item.stopDate.getTime() - item.startDate.getTime() : undefined,
        requestedBy: input?.requestedBy,
        configVersion: input?.configVersion,
        download: input?.download?.type === 'cloudfront' ? `cloudfront ${input.download.host ?? ''}`.trim() : input?.download?.type,
        timeline: timeline(stepRuns(events)),
        error: terminalError(events),
        approval: ((a) => a && { ...a, requestedBy: input?.requestedBy })(approvalOfExecution(events)),
      });
    }
    // An Activate's audit event names no person: the execution that ran it says who asked.
    for (const c of result.changes) {
      if (c.step === 'Activate' && !c.by) c.by = result.executions.find((x) => x.name === c.executionName)?.requestedBy;
    }
    io.onResult?.('history', result);
    if (flags.json) writeJson(io, result);
    else io.stdout.write(renderHistory(result, io));
    if (!flags.follow) return EXIT.ok;

    const running = executionToFollow(result.executions);
    const again = `binary-backends history --org ${orgId}${roleName ? ` --role-name ${roleName}` : ''} --follow`;
    if (!running) {
      io.stdout.write(
        `Nothing to follow: no onboarding execution of org ${orgId}${roleName ? ` backend "${roleName}"` : ''} is running.\n`,
      );
      return EXIT.ok;
    }
    const backend = backendOf.get(running.executionArn) ?? roleName;
    if (!backend) {
      throw new CommandFailure(
        `${running.name}: its input names no backend (roleName), so its progress cannot be followed`,
        undefined,
        `Run binary-backends history --org ${orgId} --role-name <backend> --follow, or binary-backends status --org ${orgId}.`,
      );
    }
    const final = await follow(clients, env[VARS.table], orgId, backend, running.executionArn, io, true, again);
    return final.executionStatus === 'SUCCEEDED' ? EXIT.ok : EXIT.failure;
  } finally {
    clients.destroy();
  }
}

function safeParse(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function clockTime(iso: string): string {
  return iso.slice(11, 23);
}

export function renderHistory(unsafe: HistoryResult, io: CliIo): string {
  // Execution input, history and error causes are untrusted text: clean them before adding our styling.
  const result = printableValues(unsafe);
  const style = styleFor(io);
  const lines: string[] = [];
  if (result.executions.length === 0) {
    lines.push(`No onboarding executions for org ${result.orgId}${result.roleName ? ` backend "${result.roleName}"` : ''}.`);
    if (result.changes.length === 0) return `${lines[0]}\n`;
    lines.push('');
  }
  const width = Math.max(18, ...result.executions.flatMap((x) => x.timeline.map((t) => t.name.length))) + 1;
  for (const x of result.executions) {
    lines.push(
      `${style.paint('bold', x.name)}  ${paintStatus(style, x.status)}` +
        (x.durationMs !== undefined ? `  in ${humanDuration(x.durationMs)}` : x.status === 'RUNNING' ? '  (running)' : ''),
    );
    lines.push(
      style.paint(
        'gray',
        `  started ${x.startedAt ?? '?'}` +
          (x.requestedBy ? ` by ${x.requestedBy}` : '') +
          (x.configVersion !== undefined ? `, config v${x.configVersion}` : '') +
          (x.download ? `, download via ${x.download}` : ''),
      ),
    );
    if (x.approval) lines.push(`  approval: ${approvalLine(x.approval, x.status === 'RUNNING' ? x.name : undefined)}`);
    for (const t of x.timeline) {
      const when = style.paint('gray', clockTime(t.startedAt));
      const terminal = t.kind === 'state' && (t.stateType === 'Fail' || t.stateType === 'Succeed');
      const took = terminal ? '' : t.durationMs === undefined ? style.paint('yellow', 'running') : humanDuration(t.durationMs);
      if (t.kind === 'trust-loop') {
        lines.push(
          `  ${when}  ${style.paint('cyan', 'CheckTrust'.padEnd(width))} ${took.padEnd(12)} ` +
            `${t.checks} check${t.checks === 1 ? '' : 's'}, ${t.waits} wait${t.waits === 1 ? '' : 's'} (WaitForTrust) for the customer's trust policy`,
        );
      } else {
        const retries = t.retries > 0 ? style.paint('yellow', ` retried ${t.retries}×`) : '';
        lines.push(`  ${when}  ${style.paint('cyan', t.name.padEnd(width))} ${took.padEnd(12)}${retries}`.trimEnd());
      }
      // The error that ended the execution is shown once, at the end, with its fix.
      for (const e of t.errors.filter((err) => !(x.error && err.name === x.error.name && err.message === x.error.message))) {
        lines.push(`  ${' '.repeat(12)}  ${style.paint('red', e.name)}: ${e.message}`);
      }
    }
    if (x.error) {
      lines.push(`  ${style.paint('red', '✘ failed')}: ${style.paint('bold', x.error.name)}: ${x.error.message}`);
      lines.push(`    fix: ${x.error.remediation}`);
    }
    lines.push('');
  }
  if (result.changes.length > 0) {
    lines.push(style.paint('bold', 'Storage changes') + style.paint('gray', ' (audit trail: retired locations serve downloads only; offboarded ones nothing)'));
    for (const c of result.changes) lines.push(`  ${style.paint('gray', c.at)}  ${changeLine(c, style)}`);
    lines.push('');
  }
  return lines.join('\n');
}

function changeLine(c: StorageChange, style: ReturnType<typeof styleFor>): string {
  const by = c.by ? ` by ${c.by}` : '';
  if (c.kind === 'retired') {
    const what = (c.retired ?? []).map((r) => `${r.location} (${r.reason})`).join(', ');
    return `${style.paint('yellow', 'retired'.padEnd(10))} ${what}${by}: ${c.step} ${c.executionName}`;
  }
  const keys = c.keysScheduledForDeletion?.length ?? 0;
  return (
    `${style.paint('red', 'offboarded'.padEnd(10))} ${c.locations.join(', ')}${c.roleName ? ` of backend "${c.roleName}"` : ''}${by}` +
    `${c.reason ? `: ${c.reason}` : ''}` +
    `${c.platformRole ? `; platform role ${c.platformRole}` : ''}` +
    `${keys > 0 ? `; ${keys} CloudFront key${keys === 1 ? '' : 's'} scheduled for deletion` : ''}`
  );
}
