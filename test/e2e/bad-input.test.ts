/**
 * Bad CLI input against a running stack: exit code 2, a message naming the flag, and nothing written:
 * the table, the secrets, IAM and Step Functions are exactly as before.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { runCli } from '../../cli/main';
import { capture } from './helpers/capture';
import { findKeyLeaks, keyFragments } from './helpers/secrets';
import { createCustomerBackend, newOrgId, startE2eStack, type CustomerBackend, type E2eStack } from './helpers/stack';

let e: E2eStack;
let cb: CustomerBackend;
let keyFile: string;
let weakKeyFile: string;
let fragments: string[];
beforeAll(async () => {
  e = await startE2eStack();
  cb = await createCustomerBackend(e, { bucket: 'e2e-bad-input', roleName: 'PeridioBad' });
  const dir = await mkdtemp(path.join(tmpdir(), 'e2e-key-'));
  const good = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  keyFile = path.join(dir, 'good.pem');
  weakKeyFile = path.join(dir, 'weak.pem');
  await writeFile(keyFile, good.export({ type: 'pkcs8', format: 'pem' }) as string);
  await writeFile(weakKeyFile, weak.export({ type: 'pkcs8', format: 'pem' }) as string);
  fragments = [...keyFragments(good), ...keyFragments(weak)];
});
afterAll(async () => {
  await e?.stop();
});

async function snapshot() {
  const items = await e.platform.dynamo.send(new ScanCommand({ TableName: e.env.BINARY_BACKENDS_TABLE }));
  const secrets = await e.platform.secrets.send(new ListSecretsCommand({ MaxResults: 100 }));
  const executions = await e.platform.sfn.send(new ListExecutionsCommand({ stateMachineArn: e.env.BINARY_BACKENDS_STATE_MACHINE_ARN }));
  return {
    items: items.Items ?? [],
    secrets: (secrets.SecretList ?? []).map((s) => s.ARN),
    executions: (executions.executions ?? []).map((x) => x.executionArn),
  };
}

describe('E2E: bad CLI input changes nothing', () => {
  const org = newOrgId();
  const base = () => ['onboard', '--org', org, '--role-name', 'prod', '--bucket', cb.bucket, '--region', cb.region, '--role-arn', cb.roleArn];
  const cf = (over: Record<string, string> = {}) => {
    const flags: Record<string, string> = {
      '--cloudfront-host': e.env.BINARY_BACKENDS_CLOUDFRONT_EDGE!,
      '--key-pair-id': 'K2JCJMDEHXQW5F',
      '--private-key-file': keyFile,
      ...over,
    };
    return Object.entries(flags).flat();
  };
  const replace = (args: string[], flag: string, value: string) => args.map((a, i) => (args[i - 1] === flag ? value : a));

  const cases: [string, () => string[], string][] = [
    ['a bucket that looks like an IP address', () => replace(base(), '--bucket', '192.168.5.4'), '--bucket: must not look like an IP address'],
    ['an uppercase org ID', () => replace(base(), '--org', org.toUpperCase()), '--org: must be a lowercase UUID'],
    ['a role name over 10 characters', () => replace(base(), '--role-name', 'production1'), '--role-name: must be 1-10 characters'],
    ['a region that does not exist', () => replace(base(), '--region', 'eu-middle-9x'), '--region: must be an AWS region code'],
    ['an STS session ARN as --role-arn', () => replace(base(), '--role-arn', 'arn:aws:sts::222222222222:assumed-role/PeridioBad/s'), '--role-arn: must be an IAM role ARN'],
    ['a missing --role-arn', () => base().slice(0, -2), '--role-arn: required'],
    ['an RSA 1024 private key', () => [...base(), ...cf({ '--private-key-file': weakKeyFile })], '--private-key-file: '],
    ['a key group ID as --key-pair-id', () => [...base(), ...cf({ '--key-pair-id': '5c6a9e1b-1234-4abc-9def-0123456789ab' })], '--key-pair-id: looks like a CloudFront key group ID'],
    ['a host with a scheme', () => [...base(), ...cf({ '--cloudfront-host': 'https://d111111abcdef8.cloudfront.net' })], '--cloudfront-host: must be a host name only'],
    ['a TTL below 60 s', () => [...base(), ...cf(), '--ttl', '59'], '--ttl: must be at least 60'],
    ['sign without --key', () => ['sign', '--org', org], '--key: required'],
    ['a TTL the signer refuses', () => ['sign', '--org', org, '--key', 'fw/a.bin', '--ttl', '999999999'], '--ttl: '],
    ['a key over 1024 bytes (checked by the signer)', () => ['sign', '--org', org, '--key', 'fw/ok.bin', '--key', `fw/${'x'.repeat(1100)}`], `--key "fw/${'x'.repeat(10)}`],
    ['deactivate without --confirm', () => ['deactivate', '--org', org], '--confirm: required'],
  ];

  for (const [what, argv, message] of cases) {
    it(`exits 2 naming the flag for ${what}, and writes nothing`, async () => {
      const before = await snapshot();
      const c = capture(e.env);
      const code = await runCli(argv(), c.io);
      expect(c.stderr()).toContain(message);
      expect(code).toBe(2);
      expect(findKeyLeaks(c.stdout() + c.stderr(), fragments)).toEqual([]);
      expect(await snapshot()).toEqual(before);
    });
  }

  it('refuses a PEM pasted into a flag without echoing it, and writes nothing', async () => {
    const before = await snapshot();
    const pem = (await import('node:fs/promises')).readFile(keyFile, 'utf8');
    const c = capture(e.env);
    const code = await runCli([...base(), ...cf({ '--key-pair-id': await pem })], c.io);
    expect(code).toBe(2);
    expect(c.stderr()).toContain('--key-pair-id');
    expect(findKeyLeaks(c.stdout() + c.stderr(), fragments)).toEqual([]);
    expect(await snapshot()).toEqual(before);
  });
});
