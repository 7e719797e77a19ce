/**
 * The `.local/aws.env` contract file: `KEY=value` lines with no quoting or spaces, so both
 * `set -a; . .local/aws.env` and dotenv loaders read it.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const DEFAULT_ENV_FILE = '.local/aws.env';

export function formatEnvFile(env: Record<string, string>, header: string[] = []): string {
  const lines = header.map((h) => `# ${h}`);
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`bad env key ${k}`);
    if (/[\s'"`$\\#]/.test(v)) throw new Error(`env value for ${k} would need quoting: ${v}`);
    lines.push(`${k}=${v}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Writes atomically (a reader never sees half a file). */
export function writeEnvFile(file: string, env: Record<string, string>, header: string[] = []): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, formatEnvFile(env, header), { mode: 0o600 });
  renameSync(tmp, file);
}

/** Parses `KEY=value` lines (comments and blank lines ignored; surrounding quotes stripped). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1]!] = v;
  }
  return out;
}

export function readEnvFile(file: string = DEFAULT_ENV_FILE): Record<string, string> {
  return parseEnvFile(readFileSync(file, 'utf8'));
}
