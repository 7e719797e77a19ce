/**
 * `binary-backends local` (`npm start`) in its own process, through the package's bin script: it serves,
 * writes the env file, and on SIGTERM stops cleanly (exit 0, env file removed, ports closed). Waits on the
 * process's own output, never on a timer.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { clientsFromEnvFile } from './local-stack-helpers';

describe('binary-backends local, in its own process', () => {
  it('serves until SIGTERM, then stops cleanly and removes its env file', async () => {
    const envFile = path.join(mkdtempSync(path.join(tmpdir(), 'local-stack-main-')), 'aws.env');
    const child = spawn(process.execPath, ['bin/binary-backends.mjs', 'local'], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: {
        ...process.env,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        BINARY_BACKENDS_LOCAL_PORTS: 'random',
        BINARY_BACKENDS_LOCAL_ENV_FILE: envFile,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ctrl-C stops the stack.')) resolve();
      });
      child.stderr.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.on('exit', (code) => reject(new Error(`main exited ${code} before serving:\n${out}`)));
    });
    expect(existsSync(envFile)).toBe(true);
    const c = clientsFromEnvFile(envFile);
    expect((await c.sts().send(new GetCallerIdentityCommand({}))).Account).toBe('111111111111');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('Stopped.');
    expect(existsSync(envFile)).toBe(false);
    await expect(fetch(c.env.AWS_ENDPOINT_URL_STS!)).rejects.toThrow(/fetch failed/);
  }, 60_000);
});
