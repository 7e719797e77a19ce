/**
 * The happy path end to end, through the CLI (in-process `runCli`) and plain SDK clients configured only
 * from the stack's env file: support onboards, the customer applies the trust policy, the workflow
 * activates, and an internal service uploads and downloads a binary through signed URLs.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { runCli } from '../../cli/main';
import type { OnboardResult } from '../../cli/commands/onboard';
import type { StatusResult } from '../../cli/commands/records-view';
import type { SignResult } from '../../cli/commands/sign';
import type { HistoryResult } from '../../cli/commands/history';
import { capture } from './helpers/capture';
import { findKeyLeaks, keyFragments } from './helpers/secrets';
import { applyTrustPolicy, createCustomerBackend, newOrgId, pollUntil, startE2eStack, type CustomerBackend, type E2eStack } from './helpers/stack';

let e: E2eStack;
beforeAll(async () => {
  e = await startE2eStack();
});
afterAll(async () => {
  await e?.stop();
});

function onboardArgs(org: string, roleName: string, cb: CustomerBackend, extra: string[] = []): string[] {
  return ['onboard', '--org', org, '--role-name', roleName, '--bucket', cb.bucket, '--region', cb.region, '--role-arn', cb.roleArn, ...extra];
}

/** Runs the CLI against the stack; returns exit code and output. Every output is kept for the secret scan. */
const outputs: string[] = [];
async function cli(argv: string[]) {
  const c = capture(e.env);
  const code = await runCli(argv, c.io);
  outputs.push(c.stdout(), c.stderr());
  return { code, stdout: c.stdout(), stderr: c.stderr(), json: () => JSON.parse(c.stdout()) as unknown };
}

/** Onboards, applies the trust policy as the customer, follows to the end. Returns the onboard result. */
async function onboardAndActivate(org: string, roleName: string, cb: CustomerBackend, extra: string[] = []): Promise<OnboardResult> {
  const first = await cli([...onboardArgs(org, roleName, cb, extra), '--json']);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  const started = first.json() as OnboardResult;
  expect(started.alreadyRunning).toBe(false);
  expect(started.requestedBy).toMatch(/^arn:aws:(iam|sts)::111111111111:/);

  // While the customer has not acted, the workflow waits for trust.
  const waiting = await cli(['status', '--org', org, '--json']);
  const s = waiting.json() as StatusResult;
  expect(s.storage).toBe('default');
  expect(s.backends[0]!.pending!.status).toBe('AWAITING_TRUST');

  // trust-policy prints exactly the JSON to apply: the seed's shape, our platform role, ExternalId = org.
  const tp = await cli(['trust-policy', '--org', org, '--role-name', roleName]);
  expect(tp.code).toBe(0);
  const policy = JSON.parse(tp.stdout) as unknown;
  expect(policy).toEqual(started.trustPolicy);
  expect(policy).toEqual({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::111111111111:role/binary_backend_${org}_${roleName}` },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': org } },
      },
    ],
  });
  // Support follows (a second submit of the same request shows the first execution) while the customer
  // applies the policy; the follow ends at activation. Following first keeps the double submit inside
  // the trust wait, so it can never race the activation.
  const c = capture(e.env);
  const following = runCli([...onboardArgs(org, roleName, cb, extra), '--follow'], c.io);
  await pollUntil(async () => c.stdout().includes('Following'), { what: 'the follow to attach' });
  await applyTrustPolicy(e, cb.roleName, tp.stdout);
  const code = await following;
  outputs.push(c.stdout(), c.stderr());
  expect(c.stderr()).toBe('');
  expect(code).toBe(0);
  expect(c.stdout()).toContain(started.executionArn);
  expect(c.stdout()).toContain('already running');
  expect(c.stdout()).toMatch(/is ACTIVE/);
  return started;
}

async function uploadAndDownload(org: string): Promise<{ up: SignResult; down: SignResult; bytes: Buffer; got: Buffer }> {
  const bytes = randomBytes(64 * 1024 + 7);
  const up = (await cli(['sign', '--org', org, '--key', 'firmware/sensor 1.2.3+rc1.fw', '--upload', '--json'])).json() as SignResult;
  expect(up.storage).toBe('custom');
  const u = up.urls[0]!;
  expect(u.method).toBe('PUT');
  expect(u.url).not.toMatch(/x-amz-checksum/i);
  const put = await fetch(u.url, { method: 'PUT', headers: u.headers ?? {}, body: bytes });
  expect(put.status).toBe(200);
  const down = (await cli(['sign', '--org', org, '--key', 'firmware/sensor 1.2.3+rc1.fw', '--json'])).json() as SignResult;
  const d = down.urls[0]!;
  expect(Date.parse(d.expiresAt)).toBeGreaterThan(Date.now());
  const get = await fetch(d.url, { headers: d.headers ?? {} });
  expect(get.status).toBe(200);
  return { up, down, bytes, got: Buffer.from(await get.arrayBuffer()) };
}

describe('E2E: onboarding a custom backend through the CLI', () => {
  it('activates an S3 backend and serves a binary uploaded and downloaded through S3 presigned URLs', async () => {
    const org = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-s3-${org.slice(0, 8)}`, roleName: 'PeridioS3' });
    const started = await onboardAndActivate(org, 'prod', cb);

    const status = (await cli(['status', '--org', org, '--json'])).json() as StatusResult;
    expect(status).toMatchObject({ storage: 'custom', active: 'prod' });
    const serving = status.backends[0]!.serving!;
    expect(serving).toMatchObject({ status: 'ACTIVE', executionArn: started.executionArn });
    expect(serving.checks.length).toBeGreaterThan(0);
    expect(serving.checks.filter((c) => c.result === 'FAIL')).toEqual([]);

    // The same onboarding submitted again once active starts nothing.
    const resubmit = await cli(onboardArgs(org, 'prod', cb));
    expect(resubmit.code).toBe(0);
    expect(resubmit.stdout).toContain('already ACTIVE with exactly this configuration');

    const { down, bytes, got } = await uploadAndDownload(org);
    expect(down.via).toBe('s3');
    expect(got.equals(bytes)).toBe(true);

    const human = await cli(['history', '--org', org]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/CheckTrust\s+\S+ \S+\s+\d+ checks?, \d+ waits?/);
    expect(human.stdout).toContain('Activate');
    const h = (await cli(['history', '--org', org, '--json'])).json() as HistoryResult;
    expect(h.executions).toHaveLength(1);
    expect(h.executions[0]).toMatchObject({ status: 'SUCCEEDED', configVersion: 1 });
    expect(h.executions[0]!.timeline.filter((t) => t.name === 'CheckTrust')).toHaveLength(1);

    // Deactivation routes the org back to default storage and warns that the binaries stay in the bucket.
    const off = await cli(['deactivate', '--org', org, '--confirm']);
    expect(off.code).toBe(0);
    expect(off.stdout).toContain('stay there');
    expect(((await cli(['status', '--org', org, '--json'])).json() as StatusResult).storage).toBe('default');
    // The signer caches each org's routing briefly (CONFIG_CACHE_TTL_SECONDS; 1 s on this stack).
    const after = await pollUntil(
      async () => {
        const r = (await cli(['sign', '--org', org, '--key', 'firmware/x.fw', '--json'])).json() as SignResult;
        return r.storage === 'default' && r;
      },
      { what: 'the signer to route the org to default storage', intervalMs: 200 },
    );
    expect(after.urls[0]!.url).toContain(`/orgs/${org}/firmware/x.fw`);
    const again = await cli(['deactivate', '--org', org, '--confirm']);
    expect(again.stdout).toContain('already uses');
  });

  it('activates a CloudFront backend (waiting out a key group still deploying), downloads through a signed URL, and never exposes the private key', async () => {
    const org = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-cf-${org.slice(0, 8)}`, region: 'us-west-2', roleName: 'PeridioCf' });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const dir = await mkdtemp(path.join(tmpdir(), 'e2e-key-'));
    const keyFile = path.join(dir, 'key.pem');
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    const keyPairId = `K${org.replace(/-/g, '').slice(0, 13).toUpperCase()}`;
    e.stack.registerDistribution({
      publicKeys: [{ id: keyPairId, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string }],
      bucket: cb.bucket,
      // The key group has not reached the edge yet: the first two signed fetches get 403 "Unknown Key".
      deployingRequests: 2,
    });
    const host = e.env.BINARY_BACKENDS_CLOUDFRONT_EDGE!;
    const cf = ['--cloudfront-host', host, '--key-pair-id', keyPairId, '--private-key-file', keyFile, '--ttl', '600'];
    const started = await onboardAndActivate(org, 'cdn', cb, cf);
    expect(started.privateKeySecretArn).toMatch(/^arn:aws:secretsmanager:/);

    const { down, bytes, got } = await uploadAndDownload(org);
    expect(down.via).toBe('cloudfront');
    expect(down.urls[0]!.url.startsWith(`http://${host}/`)).toBe(true);
    expect(got.equals(bytes)).toBe(true);
    const unsigned = await fetch(down.urls[0]!.url.split('?')[0]!);
    expect(unsigned.status).toBe(403);

    // The key is in Secrets Manager only: not in the execution history, the CLI output or the table.
    const fragments = keyFragments(privateKey);
    const history = await e.platform.sfn.send(
      new GetExecutionHistoryCommand({ executionArn: started.executionArn, includeExecutionData: true, maxResults: 1000 }),
    );
    expect(history.events!.length).toBeGreaterThan(5);
    const entered = (name: string) => history.events!.filter((ev) => ev.type === 'WaitStateEntered' && ev.stateEnteredEventDetails?.name === name).length;
    expect(entered('WaitForCloudFront')).toBe(2);
    expect(findKeyLeaks(JSON.stringify(history.events), fragments)).toEqual([]);
    expect(JSON.stringify(history.events)).toContain(started.privateKeySecretArn!);
    expect(findKeyLeaks(outputs.join('\n'), fragments)).toEqual([]);
    const table = await e.platform.dynamo.send(new ScanCommand({ TableName: e.env.BINARY_BACKENDS_TABLE }));
    expect(findKeyLeaks(JSON.stringify(table.Items), fragments)).toEqual([]);
  });

  it('re-onboards an active S3 backend with CloudFront: config v2 serves CloudFront URLs, both runs in the history', async () => {
    const org = newOrgId();
    const cb = await createCustomerBackend(e, { bucket: `e2e-re-${org.slice(0, 8)}`, roleName: 'PeridioRe' });
    await onboardAndActivate(org, 'prod', cb);

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const dir = await mkdtemp(path.join(tmpdir(), 'e2e-key-'));
    const keyFile = path.join(dir, 'key.pem');
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    const keyPairId = `K${org.replace(/-/g, '').slice(0, 13).toUpperCase()}`;
    e.stack.registerDistribution({ publicKeys: [{ id: keyPairId, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string }], bucket: cb.bucket });
    const cf = ['--cloudfront-host', e.env.BINARY_BACKENDS_CLOUDFRONT_EDGE!, '--key-pair-id', keyPairId, '--private-key-file', keyFile, '--hash-algorithm', 'SHA256'];

    // The customer's trust is already in place, so the re-onboarding runs straight through; follow it.
    const re = await cli([...onboardArgs(org, 'prod', cb, cf), '--follow', '--json']);
    expect(re.code).toBe(0);
    const result = re.json() as OnboardResult;
    expect(result).toMatchObject({ alreadyRunning: false, configVersion: 2, final: { executionStatus: 'SUCCEEDED' } });

    const status = (await cli(['status', '--org', org, '--json'])).json() as StatusResult;
    expect(status.active).toBe('prod');
    expect(status.backends[0]!.serving).toMatchObject({ configVersion: 2, status: 'ACTIVE', download: { type: 'cloudfront', hashAlgorithm: 'SHA256' } });
    const { down, bytes, got } = await uploadAndDownload(org);
    expect(down.via).toBe('cloudfront');
    expect(got.equals(bytes)).toBe(true);

    const h = (await cli(['history', '--org', org, '--role-name', 'prod', '--json'])).json() as HistoryResult;
    expect(h.executions.map((x) => [x.configVersion, x.status])).toEqual([
      [1, 'SUCCEEDED'],
      [2, 'SUCCEEDED'],
    ]);
  });
});
