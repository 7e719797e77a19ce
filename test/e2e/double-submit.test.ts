/**
 * A double submit (support pressing enter twice, two people at once, the CLI and the event path) starts
 * one execution, and the second submit is shown the first one.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { runCli } from '../../cli/main';
import { isExecutionOf } from '../../cli/executions';
import type { OnboardResult } from '../../cli/commands/onboard';
import { capture } from './helpers/capture';
import { createCustomerBackend, newOrgId, startE2eStack, type E2eStack } from './helpers/stack';

let e: E2eStack;
beforeAll(async () => {
  e = await startE2eStack();
});
afterAll(async () => {
  await e?.stop();
});

async function onboardJson(argv: string[]): Promise<{ code: number; result?: OnboardResult; stderr: string }> {
  const c = capture(e.env, { trustPolicyWaitMs: 10_000 });
  const code = await runCli([...argv, '--json'], c.io);
  return { code, result: code === 0 ? (JSON.parse(c.stdout()) as OnboardResult) : undefined, stderr: c.stderr() };
}

async function executionsOf(org: string): Promise<string[]> {
  const out = await e.platform.sfn.send(new ListExecutionsCommand({ stateMachineArn: e.env.BINARY_BACKENDS_STATE_MACHINE_ARN, maxResults: 1000 }));
  return (out.executions ?? []).filter((x) => isExecutionOf(x.name!, org)).map((x) => x.executionArn!);
}

describe('E2E: double submit', () => {
  it('starts one execution when the same onboarding is submitted twice at once', async () => {
    const org = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-ds-${org.slice(0, 8)}`, roleName: 'PeridioDs' });
    const args = ['onboard', '--org', org, '--role-name', 'prod', '--bucket', cb.bucket, '--region', cb.region, '--role-arn', cb.roleArn];
    const [a, b] = await Promise.all([onboardJson(args), onboardJson(args)]);
    expect([a.code, b.code, a.stderr, b.stderr]).toEqual([0, 0, '', '']);
    expect(a.result!.executionArn).toBe(b.result!.executionArn);
    expect([a.result!.alreadyRunning, b.result!.alreadyRunning].sort()).toEqual([false, true]);

    // And once more, later: still the same execution.
    const c = await onboardJson(args);
    expect(c.result).toMatchObject({ executionArn: a.result!.executionArn, alreadyRunning: true });
    expect(await executionsOf(org)).toEqual([a.result!.executionArn]);
  });

  it('reuses the stored CloudFront key on a double submit, so it is the same request and one execution', async () => {
    const org = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-dsc-${org.slice(0, 8)}`, roleName: 'PeridioDsc' });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const dir = await mkdtemp(path.join(tmpdir(), 'e2e-key-'));
    const keyFile = path.join(dir, 'key.pem');
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const args = [
      'onboard', '--org', org, '--role-name', 'cdn', '--bucket', cb.bucket, '--region', cb.region, '--role-arn', cb.roleArn,
      '--cloudfront-host', e.env.BINARY_BACKENDS_CLOUDFRONT_EDGE!, '--key-pair-id', 'K2JCJMDEHXQW5F', '--private-key-file', keyFile, '--hash-algorithm', 'SHA256',
    ];
    const first = await onboardJson(args);
    const second = await onboardJson(args);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(second.result).toMatchObject({
      executionArn: first.result!.executionArn,
      alreadyRunning: true,
      privateKeySecretArn: first.result!.privateKeySecretArn,
      privateKeySecretVersionId: first.result!.privateKeySecretVersionId,
    });
    expect(await executionsOf(org)).toHaveLength(1);
    const secrets = await e.platform.secrets.send(new ListSecretsCommand({ MaxResults: 100 }));
    expect((secrets.SecretList ?? []).filter((s) => s.Name?.includes(org))).toHaveLength(1);
  });

  it('refuses a different request for a backend with an onboarding in flight, naming the running one', async () => {
    const org = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-dd-${org.slice(0, 8)}`, roleName: 'PeridioDd' });
    const args = ['onboard', '--org', org, '--role-name', 'prod', '--bucket', cb.bucket, '--role-arn', cb.roleArn];
    const first = await onboardJson([...args, '--region', cb.region]);
    expect(first.code).toBe(0);
    const c = capture(e.env);
    expect(await runCli([...args, '--region', 'eu-central-1'], c.io)).toBe(1);
    expect(c.stderr()).toContain('OnboardingInProgressError');
    expect(c.stderr()).toContain(first.result!.executionName ?? first.result!.executionArn.split(':').pop()!);
    expect(await executionsOf(org)).toEqual([first.result!.executionArn]);
  });
});
