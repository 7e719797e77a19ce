/**
 * `binary-backends local` (`npm start`): the stack in the foreground, a port table, the env file, and a
 * clean stop; meanwhile another "shell" (the CLI with only the env file's variables) can use it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../cli/main';
import { capture } from './helpers/capture';
import { parseEnvFile, pollUntil } from './helpers/stack';

describe('E2E: binary-backends local', () => {
  it('serves the stack until stopped, prints the ports and how to load the env file, then removes it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'e2e-local-'));
    const envFile = path.join(dir, 'aws.env');
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const c = capture({ BINARY_BACKENDS_LOCAL_PORTS: 'random', BINARY_BACKENDS_LOCAL_ENV_FILE: envFile }, { untilStopped: () => stopped });
    const running = runCli(['local'], c.io);
    await pollUntil(async () => c.stdout().includes('Ctrl-C'), { what: 'the stack to start' });

    expect(c.stdout()).toContain(`set -a; . ${envFile}; set +a`);
    for (const service of ['DynamoDB', 'S3', 'IAM', 'STS', 'Secrets Manager', 'EventBridge', 'Lambda', 'Step Functions', 'CloudFront edge']) {
      expect(c.stdout()).toMatch(new RegExp(`${service}[^\\n]* \\d+ \\* +http://127\\.0\\.0\\.1:\\d+`));
    }
    // Another shell: only the env file's variables.
    const env = parseEnvFile(await readFile(envFile, 'utf8'));
    const other = capture(env);
    expect(await runCli(['status', '--org', '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a'], other.io)).toBe(0);
    expect(other.stdout()).toContain("uses Peridio's default storage");

    stop();
    expect(await running).toBe(0);
    expect(c.stdout()).toContain('Stopped.');
    expect(existsSync(envFile)).toBe(false);
    await rm(dir, { recursive: true, force: true });
  });

  it('names BINARY_BACKENDS_LOCAL_PORTS when it cannot be read, with exit code 2', async () => {
    const c = capture({ BINARY_BACKENDS_LOCAL_PORTS: 's3=lots' });
    expect(await runCli(['local'], c.io)).toBe(2);
    expect(c.stderr()).toContain('BINARY_BACKENDS_LOCAL_PORTS');
  });
});
