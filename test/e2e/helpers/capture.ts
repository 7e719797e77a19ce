/** An in-memory CliIo for running the CLI in-process and reading what it printed. */
import type { CliIo } from '../../../cli/io';

export interface Captured {
  io: CliIo;
  stdout: () => string;
  stderr: () => string;
  results: { command: string; result: unknown }[];
}

export function capture(env: Record<string, string | undefined>, extra: Partial<CliIo> = {}): Captured {
  let out = '';
  let err = '';
  const results: { command: string; result: unknown }[] = [];
  return {
    io: {
      env,
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      isTTY: false,
      pollIntervalMs: 50,
      onResult: (command, result) => results.push({ command, result }),
      ...extra,
    },
    stdout: () => out,
    stderr: () => err,
    results,
  };
}
