/**
 * What a CLI run talks to: its environment, its output streams, and (for tests and the demo) its clock,
 * its sleep and a hook that receives each command's machine-readable result. Nothing in cli/ reads
 * `process.env` or writes to `process.stdout` directly, so the CLI runs in-process in tests and the demo.
 */

export interface Writable {
  write(chunk: string): unknown;
}

export interface CliIo {
  /** The environment the commands read their configuration from (AWS variables and BINARY_BACKENDS_*). */
  env: Record<string, string | undefined>;
  stdout: Writable;
  stderr: Writable;
  /** Colour and tables only on a terminal. Defaults to false (plain text, as in a pipe). */
  isTTY?: boolean;
  /** The terminal's width, for lines redrawn in place. Default 120. */
  columns?: number;
  /** Injected clock, for --follow countdowns in tests. */
  clock?: () => Date;
  /** Injected sleep, so polling loops can be driven without real waiting. */
  sleep?: (ms: number) => Promise<void>;
  /** How often polling loops (onboard, --follow) look again. Default 1000 ms. */
  pollIntervalMs?: number;
  /** How long `onboard` waits for the trust policy before printing how to fetch it later. Default 120 s. */
  trustPolicyWaitMs?: number;
  /** Receives each command's result (what --json would print), for the demo. */
  onResult?: (command: string, result: unknown) => void;
  /**
   * While a command waits on something that keeps running without it (`--follow`), what Ctrl-C should
   * print before the process exits. Returns the function that removes the handler. Only the real
   * process (cli/main.ts `main`) sets it.
   */
  onInterrupt?: (message: () => string) => () => void;
  /** Resolves when a foreground command (`local`) should stop. Defaults to SIGINT/SIGTERM. */
  untilStopped?: () => Promise<void>;
}

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Bad usage: a missing or malformed flag or environment variable. Exit code 2, nothing written. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A command that ran but did not succeed (an AWS error, a failed onboarding). Exit code 1. */
export class CommandFailure extends Error {
  constructor(
    message: string,
    readonly errorName?: string,
    readonly remediation?: string,
  ) {
    super(message);
    this.name = 'CommandFailure';
  }
}

const ANSI = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
} as const;
export type Colour = keyof typeof ANSI;

/** Colouring that is a no-op in a pipe or when NO_COLOR is set (https://no-color.org). */
export interface Style {
  colour: boolean;
  paint(colour: Colour, text: string): string;
}

export function styleFor(io: Pick<CliIo, 'env' | 'isTTY'>): Style {
  const colour = Boolean(io.isTTY) && !io.env.NO_COLOR;
  return {
    colour,
    paint: (c, text) => (colour ? `\u001b[${ANSI[c][0]}m${text}\u001b[${ANSI[c][1]}m` : text),
  };
}

// eslint-disable-next-line no-control-regex
const ANSI_RE = /\u001b\[[0-9;]*m/g;
export function visibleLength(text: string): number {
  return text.replace(ANSI_RE, '').length;
}

/**
 * A table: aligned columns. On a terminal the header is bold over a rule; in a pipe it is plain text
 * (no escape codes), still aligned, so it reads well pasted into a ticket. Cells may already be coloured;
 * a cell with line breaks continues under its column.
 */
export function table(style: Style, header: string[], rows: string[][]): string {
  const widths = header.map((h, i) =>
    Math.max(visibleLength(h), ...rows.map((r) => Math.max(...(r[i] ?? '').split('\n').map(visibleLength)))),
  );
  const pad = (c: string, i: number) => c + ' '.repeat(Math.max(0, widths[i]! - visibleLength(c)));
  const line = (cells: string[]) => {
    const parts = cells.map((c) => c.split('\n'));
    const height = Math.max(...parts.map((p) => p.length));
    const out: string[] = [];
    for (let k = 0; k < height; k += 1) {
      out.push(
        parts
          .map((p, i) => (i === cells.length - 1 ? (p[k] ?? '') : pad(p[k] ?? '', i)))
          .join('  ')
          .trimEnd(),
      );
    }
    return out.join('\n');
  };
  const head = style.colour ? [style.paint('bold', line(header)), style.paint('gray', widths.map((w) => '─'.repeat(w)).join('  '))] : [line(header)];
  return [...head, ...rows.map(line)].join('\n') + '\n';
}

/** Status words in colour: green for good, yellow for waiting, red for failed. */
export function paintStatus(style: Style, status: string): string {
  if (['ACTIVE', 'SUCCEEDED', 'PASS', 'VERIFIED'].includes(status)) return style.paint('green', status);
  if (['FAILED', 'FAIL', 'ABORTED', 'TIMED_OUT', 'ABANDONED'].includes(status)) return style.paint('red', status);
  if (['SKIP'].includes(status)) return style.paint('gray', status);
  return style.paint('yellow', status);
}

/** 1.2 s, 3 min 4 s, 2 h 5 min: for durations and countdowns. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const neg = ms < 0;
  const abs = Math.abs(ms);
  let out: string;
  if (abs < 1000) out = `${Math.round(abs)} ms`;
  else if (abs < 60_000) out = `${(abs / 1000).toFixed(1)} s`;
  else if (abs < 3_600_000) out = `${Math.floor(abs / 60_000)} min ${Math.floor((abs % 60_000) / 1000)} s`;
  else if (abs < 86_400_000) out = `${Math.floor(abs / 3_600_000)} h ${Math.floor((abs % 3_600_000) / 60_000)} min`;
  else out = `${Math.floor(abs / 86_400_000)} d ${Math.floor((abs % 86_400_000) / 3_600_000)} h`;
  return neg ? `-${out}` : out;
}

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
