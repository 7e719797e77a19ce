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
  /**
   * Whether stdin is a terminal a person can answer from. Defaults to false: commands that need a confirmation
   * (`offboard`) then require their `--yes` flag and send nothing without it.
   */
  stdinIsTTY?: boolean;
  /** Asks a person a question on the terminal and resolves with the line they typed (only when stdinIsTTY). */
  ask?: (question: string) => Promise<string>;
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
  io.stdout.write(`${JSON.stringify(printableValues(value, { multiline: true }), null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------
// The one output sanitizer. Whatever the CLI prints (errors, tables, fields, JSON) passes through
// `printable`: key material is withheld, and control and escape characters are stripped, so neither a
// pasted PEM (`--ttl <PEM>`, `sign --key <PEM>`) nor a record field holding escape codes (a `requestedBy`
// that clears the screen or forges a line) reaches support's terminal. See docs/cli.md "Output safety".
// ---------------------------------------------------------------------------------------------

export const WITHHELD = '<key material withheld>';

/** The SGR sequences the CLI's own Style emits (and nothing else): kept when a whole chunk is cleaned. */
const OWN_SGR = new Set(Object.values(ANSI).flatMap(([on, off]) => [`\u001b[${on}m`, `\u001b[${off}m`]));
/** The CLI's own "redraw this line" prefix (onboard --follow on a terminal). */
const OWN_REDRAW = '\r\u001b[K';

/* eslint-disable no-control-regex */
/** 7-bit escape sequences: CSI (ESC [ ... final), OSC / DCS / SOS / PM / APC (to BEL or ST), or ESC + one. */
const ESCAPE_SEQUENCE =
  /\u001b(?:\[[0-?]*[ -/]*[@-~]?|[\]PX^_][^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|[ -/]*[0-~]?)/g;
/** 8-bit C1 forms of the same: CSI (U+009B) and OSC / DCS / SOS / PM / APC (U+009D, 0090, 0098, 009E, 009F). */
const C1_SEQUENCE = /\u009b[0-?]*[ -/]*[@-~]?|[\u009d\u0090\u0098\u009e\u009f][^\u0007\u009c\u001b]*(?:\u0007|\u009c)?/g;
/** Remaining C0 (but tab and line feed), DEL, C1, and the bidi / direction marks and line separators. */
const CONTROL_CHARACTER = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/* eslint-enable no-control-regex */

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]*-----[\s\S]*?(?:-----END [A-Z0-9 ]*-----|$)/g;
/** A label that names a secret, and its value: `aws_secret_access_key=...`, `"SessionToken": "..."`. */
const LABELLED_SECRET =
  /((?:secret_?access_?key|(?<!amz-)security_?token|session_?token|private_?key)["']?\s*[:=]\s*["']?)([^\s"',&;}]+)/gi;
/**
 * Runs of base64 long enough to be a key (DER), a session token or a secret access key. A run touching
 * `-`, `_` or `~` is a piece of a longer URL-safe token, not a key on its own: a CloudFront URL signature
 * (CloudFront's base64 writes `+ = /` as `- _ ~`) often holds exactly 40 letters and digits between two of
 * them, and withholding that piece printed `sign` URLs whose signature the edge refused (seen in
 * test/e2e/locations.test.ts, about one CloudFront URL in ten).
 */
const BASE64_RUN = /(?<![A-Za-z0-9+/=%~_-])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=~_-])/g;

/** Random base64 (a key, a token), not a path or a word: mixed case and digits, and at a length keys have. */
function looksRandomBase64(run: string): boolean {
  const body = run.replace(/=+$/, '');
  const upper = (body.match(/[A-Z]/g) ?? []).length / body.length;
  const lower = (body.match(/[a-z]/g) ?? []).length / body.length;
  const digits = (body.match(/[0-9]/g) ?? []).length;
  if (upper < 0.2 || lower < 0.2 || digits === 0) return false;
  // A secret access key is exactly 40 characters; anything longer is a key or token only if it has the
  // base64 alphabet's + or / (URL-encoded tokens in presigned URLs have %2B / %2F instead, and stay).
  return body.length === 40 || /[+/]/.test(body);
}

/**
 * `value` as text that is safe to print: key material replaced by WITHHELD; escape sequences (ANSI CSI, OSC
 * and the rest, 7- and 8-bit) removed; other control characters, DEL, C1 and bidi overrides replaced by
 * U+FFFD. Line feeds are kept only with `multiline` (else shown as U+23CE); tabs become a space.
 * `keepOwnStyle` keeps exactly the colour codes and line redraw the CLI itself emits: for whole output
 * chunks whose values were cleaned already, never for a value alone.
 */
export function printable(value: unknown, options: { multiline?: boolean; keepOwnStyle?: boolean } = {}): string {
  let text = typeof value === 'string' ? value : value === undefined ? '' : (JSON.stringify(value) ?? String(value));
  text = text
    .replace(PEM_BLOCK, WITHHELD)
    .replace(LABELLED_SECRET, (_m, label: string) => `${label}${WITHHELD}`)
    .replace(BASE64_RUN, (run) => (looksRandomBase64(run) ? WITHHELD : run));
  if (!options.keepOwnStyle) return stripControls(text, options.multiline);
  // Split around the CLI's own sequences (odd indexes), clean only what lies between them.
  return text
    .split(OWN_TOKEN)
    .map((part, i) => (i % 2 === 1 ? part : stripControls(part, options.multiline)))
    .join('');
}

const OWN_TOKEN = new RegExp(`(${[OWN_REDRAW, ...OWN_SGR].map((t) => t.replace(/[[\]\\^$.|?*+()]/g, '\\$&')).join('|')})`);

function stripControls(text: string, multiline = false): string {
  return text
    .replace(ESCAPE_SEQUENCE, '')
    .replace(C1_SEQUENCE, '')
    .replace(/\t/g, ' ')
    .replace(/\r\n/g, '\n')
    .replace(/\n/g, multiline ? '\n' : '\u23ce')
    .replace(CONTROL_CHARACTER, (c) => (c === '\u001b' ? '' : '\ufffd'))
    .replace(/\u001b/g, '');
}

/** `value` with every string in it (keys included) passed through `printable`; plain prototype-free copies. */
export function printableValues<T>(value: T, options: { multiline?: boolean } = {}): T {
  if (typeof value === 'string') return printable(value, options) as T;
  if (Array.isArray(value)) return value.map((v) => printableValues(v, options)) as T;
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = Object.create(null);
    for (const [k, v] of Object.entries(value)) out[printable(k)] = printableValues(v, options);
    return out as T;
  }
  return value;
}

/** A writer that cleans every chunk (keeping the CLI's own colours and redraws): the last net. */
export function printableWriter(target: Writable): Writable {
  return { write: (chunk: string) => target.write(printable(String(chunk), { multiline: true, keepOwnStyle: true })) };
}
