/**
 * The `.local/aws.env` contract file: `KEY=value` lines with no quoting or spaces, so both
 * `set -a; . .local/aws.env` and dotenv loaders read it.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';

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

/**
 * Parses the env file with Node's own dotenv parser (`node:util` parseEnv, Node >= 20.12): comments, blank
 * lines, `export ` prefixes and surrounding quotes are handled there. It treats an unquoted ` #` as a comment;
 * formatEnvFile refuses `#` in values, so a file this module writes parses back exactly.
 */
export function parseEnvFile(text: string): Record<string, string> {
  return { ...parseEnv(text) } as Record<string, string>;
}

export function readEnvFile(file: string = DEFAULT_ENV_FILE): Record<string, string> {
  return parseEnvFile(readFileSync(file, 'utf8'));
}
