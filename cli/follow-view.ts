/**
 * The `follow` view: live progress of one onboarding execution until it ends (the current state, the
 * backend's status, the CheckTrust attempt count and the time until the next check), then its outcome
 * with the error's fix. Used by `onboard --follow` (cli/commands/onboard.ts) and `history --follow`
 * (cli/commands/history.ts); any command that watches an execution renders it through this view, so
 * progress always looks the same. The caller says how to follow again (its own command line).
 */
import type { AwsClients } from './aws';
import { describeExecution, executionError, latestEvents, currentState, terminalError } from './executions';
import { humanDuration, paintStatus, styleFor, visibleLength, type CliIo } from './io';
import { configOfExecution, readOrg } from './records';

/** Joins the parts with two spaces, dropping trailing parts (then cutting) to stay within `columns`. */
export function fitToWidth(parts: string[], columns: number): string {
  const max = Math.max(20, columns - 1);
  const kept = [...parts];
  while (kept.length > 1 && visibleLength(kept.join('  ')) > max) kept.pop();
  const line = kept.join('  ');
  if (visibleLength(line) <= max) return line;
  // One part alone is too long: cut its visible text (escape codes are dropped with it).
  return `${line.replace(/\u001b\[[0-9;]*m/g, '').slice(0, max - 1)}…`;
}

export interface FollowOutcome {
  executionStatus: string;
  status?: string;
  error?: { name: string; message: string; remediation: string };
}

/**
 * Live progress until the execution ends: the current state, the backend's status, the CheckTrust attempt
 * count and the time until the next check. On a terminal the line is redrawn in place; in a pipe a line
 * is printed whenever something but the countdown changes.
 */
export async function follow(
  clients: AwsClients,
  table: string,
  orgId: string,
  roleName: string,
  executionArn: string,
  io: CliIo,
  print: boolean,
  /** The command that follows again, shown on Ctrl-C, like `binary-backends onboard <same flags> --follow`. */
  followAgain: string,
): Promise<FollowOutcome> {
  // Ctrl-C stops watching, not the onboarding: say so, so nobody restarts it in a panic.
  const removeInterrupt = io.onInterrupt?.(
    () =>
      `\nStopped following. The onboarding keeps running on its own.\n` +
      `  where it is:  binary-backends status --org ${orgId}\n` +
      `  follow again: ${followAgain}\n`,
  );
  try {
    return await followLoop(clients, table, orgId, roleName, executionArn, io, print);
  } finally {
    removeInterrupt?.();
  }
}

async function followLoop(
  clients: AwsClients,
  table: string,
  orgId: string,
  roleName: string,
  executionArn: string,
  io: CliIo,
  print: boolean,
): Promise<FollowOutcome> {
  const style = styleFor(io);
  const clock = io.clock ?? (() => new Date());
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let lastKey = '';
  let redrawing = false;
  if (print) io.stdout.write(`\n${style.paint('bold', 'Following')} ${executionArn}\n`);
  for (;;) {
    const described = await describeExecution(clients.sfn, executionArn);
    const events = await latestEvents(clients.sfn, executionArn);
    const record = await readOrg(clients.dynamo, table, orgId);
    const config = configOfExecution(record, roleName, executionArn)?.config;
    const state = currentState(events) ?? '(starting)';
    const now = clock();
    const running = described.status === 'RUNNING';
    if (print && running) {
      const attempts = config?.attempts ?? 0;
      let nextIn = config?.nextCheckAt ? new Date(config.nextCheckAt).getTime() - now.getTime() : undefined;
      // The local stack shortens every Wait state; the record keeps the production schedule. When the stack
      // says how long its waits are, count down to the real next check instead.
      const localWaitMs = Number(io.env.BINARY_BACKENDS_LOCAL_WAIT_FOR_TRUST_MS ?? NaN);
      const waitEntered = [...events].reverse().find((ev) => ev.stateEnteredEventDetails?.name === 'WaitForTrust')?.timestamp;
      if (Number.isFinite(localWaitMs) && state === 'WaitForTrust' && waitEntered) {
        const local = new Date(waitEntered).getTime() + localWaitMs - now.getTime();
        nextIn = nextIn === undefined ? local : Math.min(nextIn, local);
      }
      const parts = [
        style.paint('gray', now.toISOString().slice(11, 19)),
        style.paint('cyan', state.padEnd(18)),
        paintStatus(style, (config?.status ?? 'PENDING').padEnd(14)),
        `CheckTrust attempts ${attempts}`,
        ...(state === 'WaitForTrust' && nextIn !== undefined ? [`next check in ${humanDuration(Math.max(0, nextIn))}`] : []),
        ...(state === 'CheckTrust' ? ['checking now'] : []),
        ...(config?.lastCheckResult && (state === 'WaitForTrust' || state === 'CheckTrust')
          ? [style.paint('gray', `(${config.lastCheckResult})`)]
          : []),
      ].filter(Boolean);
      const key = `${state}|${config?.status}|${attempts}`;
      if (style.colour) {
        // Each change of state, status or attempt keeps its line; the countdown redraws the current one,
        // cut to the terminal's width so the redraw never wraps.
        if (redrawing && key !== lastKey) io.stdout.write('\n');
        io.stdout.write(`\r\u001b[K${fitToWidth(parts, io.columns ?? 120)}`);
        redrawing = true;
      } else if (key !== lastKey) {
        io.stdout.write(`${parts.join('  ')}\n`);
      }
      lastKey = key;
    }
    if (!running) {
      if (redrawing) io.stdout.write('\n');
      const error =
        described.status === 'SUCCEEDED'
          ? undefined
          : (config?.error && { name: config.error.name, message: config.error.message, remediation: config.error.remediation }) ??
            terminalError(events) ??
            executionError(described.error, described.cause);
      const outcome: FollowOutcome = { executionStatus: described.status ?? 'UNKNOWN', status: config?.status, error };
      if (print) {
        if (described.status === 'SUCCEEDED') {
          io.stdout.write(
            `${style.paint('green', '✔')} Backend "${roleName}" of org ${orgId} is ${paintStatus(style, config?.status ?? 'ACTIVE')}: ` +
              `the signer now routes this org to it.\n`,
          );
        } else {
          io.stdout.write(
            `${style.paint('red', '✘')} Onboarding ${paintStatus(style, described.status ?? 'FAILED')}` +
              (error ? `: ${style.paint('bold', error.name)}: ${error.message}\n  fix: ${error.remediation}\n` : '\n'),
          );
        }
      }
      return outcome;
    }
    await sleep(io.pollIntervalMs ?? 1000);
  }
}

