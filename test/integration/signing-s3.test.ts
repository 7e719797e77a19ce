/**
 * The signer against @20minutes/s3rver, which validates SigV4: the URLs are fetched with plain `fetch`
 * and the server decides. STS and DynamoDB are aws-sdk-client-mock fakes: every AssumeRole mints a key
 * pair and registers it in s3rver's account registry, so the server checks signatures made with exactly
 * the credentials the signer got. S3 calls the signer makes itself (multipart) go to s3rver for real.
 */
import { request as httpRequest } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BackendConfig, DownloadConfig, OrgRecord } from '#shared/records/model';
import { createUrlSigner, type SignResponse, type UrlSigner } from '../../functions/signing/sign-url';
import { sdkSignerDeps } from '../unit/helpers/sdk-signer-deps';
import { mintKeysOnAssumeRole, startSignedS3rver, type S3rverAccount, type SignedS3rver } from './helpers/signed-s3rver';

const DEFAULT_BUCKET = 'peridio-binaries-it';
const CUSTOMER_BUCKETS = ['acme-a', 'acme-b', 'acme-c'];
const SIGNER_ROLE = 'arn:aws:iam::111111111111:role/binary-backends-it-default-storage-signer';

const ddb = mockClient(DynamoDBDocumentClient);
const sts = mockClient(STSClient);

let s3: SignedS3rver;
let endpoint: string;
let platformAccount: S3rverAccount;
let adminS3: S3Client;
let records: Record<string, OrgRecord>;
let clockOffsetMs = 0;
const clock = () => new Date(Date.now() + clockOffsetMs);

function servingConfig(bucket: string, prefix: string | undefined, download: DownloadConfig = { type: 's3' }): BackendConfig {
  return {
    configVersion: 1,
    executionArn: 'arn:aws:states:us-east-1:111111111111:execution:onboarding:x',
    executionName: 'x',
    status: 'ACTIVE',
    requestedBy: 'support',
    startedAt: '2026-11-01T00:00:00Z',
    trustDeadlineAt: '2026-11-08T00:00:00Z',
    attempts: 1,
    upload: { bucket, region: 'us-east-1', roleArn: 'arn:aws:iam::222222222222:role/PeridioBinaries', accountId: '222222222222', prefix },
    download,
    checks: [],
    createdAt: '2026-11-01T00:00:00Z',
    updatedAt: '2026-11-01T00:00:00Z',
  };
}

function activate(orgId: string, bucket: string, prefix?: string, download?: DownloadConfig): void {
  records[`ORG#${orgId}`] = {
    pk: `ORG#${orgId}`,
    sk: 'BACKENDS',
    orgId,
    active: 'prod',
    version: 1,
    updatedAt: '2026-11-01T00:00:00Z',
    backends: {
      prod: {
        roleName: 'prod',
        platformRoleArn: `arn:aws:iam::111111111111:role/binary_backend_${orgId}_prod`,
        lastConfigVersion: 1,
        serving: servingConfig(bucket, prefix, download),
      },
    },
  };
}

function newSigner(): UrlSigner {
  return createUrlSigner(
    sdkSignerDeps({
      tableName: 'it',
      clock,
      settings: { defaultBucket: DEFAULT_BUCKET, defaultBucketRegion: 'us-east-1', defaultSignerRoleArn: SIGNER_ROLE, configCacheTtlSeconds: 30 },
    }),
  );
}

beforeAll(async () => {
  s3 = await startSignedS3rver({ buckets: [DEFAULT_BUCKET, ...CUSTOMER_BUCKETS], customerAccountId: '222222222222', dirPrefix: 'signing-it-' });
  ({ endpoint, platformAccount, adminS3 } = s3);
});

afterAll(async () => {
  await s3?.stop();
});

beforeEach(() => {
  ddb.reset();
  sts.reset();
  records = {};
  clockOffsetMs = 0;
  ddb.on(GetCommand).callsFake((input: { Key: { pk: string } }) => ({ Item: records[input.Key.pk] }));
  mintKeysOnAssumeRole(sts, s3, '222222222222', () => clock().getTime() + 3600_000);
});

async function put(url: string, body: string | Uint8Array): Promise<Response> {
  return fetch(url, { method: 'PUT', body });
}

function putOnFreshConnection(url: string, body: Buffer): Promise<{ status: number; etag: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'PUT', agent: false, headers: { 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: String(res.headers.etag) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function sign(signer: UrlSigner, request: Record<string, unknown>): Promise<SignResponse> {
  return signer.sign(request);
}

describe('Integration: presigned S3 URLs against s3rver', () => {
  it('uploads with the PUT URL and downloads the same bytes with the GET URL (default storage)', async () => {
    const orgId = randomUUID();
    const signer = newSigner();
    const body = randomBytes(4096);
    const up = await sign(signer, { orgId, operation: 'upload', keys: ['fw/acme-1.2.3.fw'] });
    expect(up.urls[0]!.url.startsWith(`${endpoint}/${DEFAULT_BUCKET}/orgs/${orgId}/fw/acme-1.2.3.fw?`)).toBe(true);
    expect(up.urls[0]!.url.toLowerCase()).not.toContain('x-amz-checksum');
    expect((await put(up.urls[0]!.url, body)).status).toBe(200);
    const down = await sign(signer, { orgId, operation: 'download', keys: ['fw/acme-1.2.3.fw'] });
    const res = await fetch(down.urls[0]!.url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(body)).toBe(true);
    // Independently: the object sits under the org prefix of the default bucket.
    const obj = await adminS3.send(new GetObjectCommand({ Bucket: DEFAULT_BUCKET, Key: `orgs/${orgId}/fw/acme-1.2.3.fw` }));
    expect(Buffer.from(await obj.Body!.transformToByteArray()).equals(body)).toBe(true);
  });

  it('does the same on a custom backend through the customer role, under its prefix', async () => {
    const orgId = randomUUID();
    activate(orgId, 'acme-a', 'peridio/');
    const signer = newSigner();
    const up = await sign(signer, { orgId, operation: 'upload', keys: ['a.bin'] });
    expect(up.storage).toBe('custom');
    expect((await put(up.urls[0]!.url, 'custom bytes')).status).toBe(200);
    const down = await sign(signer, { orgId, operation: 'download', keys: ['a.bin'] });
    expect(await (await fetch(down.urls[0]!.url)).text()).toBe('custom bytes');
    const obj = await adminS3.send(new GetObjectCommand({ Bucket: 'acme-a', Key: 'peridio/a.bin' }));
    expect(await obj.Body!.transformToString()).toBe('custom bytes');
  });

  it('gets 403 for a tampered URL: another key, another expiry, another signature, or a revoked key', async () => {
    const orgId = randomUUID();
    const signer = newSigner();
    await adminS3.send(new PutObjectCommand({ Bucket: DEFAULT_BUCKET, Key: `orgs/${orgId}/a.bin`, Body: 'a' }));
    await adminS3.send(new PutObjectCommand({ Bucket: DEFAULT_BUCKET, Key: `orgs/${orgId}/b.bin`, Body: 'b' }));
    const url = (await sign(signer, { orgId, operation: 'download', keys: ['a.bin'] })).urls[0]!.url;
    expect((await fetch(url)).status).toBe(200);
    expect((await fetch(url.replace('/a.bin?', '/b.bin?'))).status).toBe(403);
    expect((await fetch(url.replace('X-Amz-Expires=900', 'X-Amz-Expires=3600'))).status).toBe(403);
    const sig = new URL(url).searchParams.get('X-Amz-Signature')!;
    const flipped = sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0');
    expect((await fetch(url.replace(sig, flipped))).status).toBe(403);
    const upload = (await sign(signer, { orgId, operation: 'upload', keys: ['a.bin'] })).urls[0]!.url;
    expect((await fetch(upload.replace('/a.bin?', '/c.bin?'), { method: 'PUT', body: 'x' })).status).toBe(403);
    const keyId = new URL(url).searchParams.get('X-Amz-Credential')!.split('/')[0]!;
    platformAccount.revokeAccessKey(keyId);
    expect((await fetch(url)).status).toBe(403);
  });

  it('gets 403 once expiresAt has passed, and 200 before: expiresAt is honest', async () => {
    const orgId = randomUUID();
    await adminS3.send(new PutObjectCommand({ Bucket: DEFAULT_BUCKET, Key: `orgs/${orgId}/a.bin`, Body: 'a' }));
    clockOffsetMs = -(900 + 5) * 1000; // signed 905 s ago with the default 900 s TTL
    const old = await sign(newSigner(), { orgId, operation: 'download', keys: ['a.bin'] });
    expect(Date.parse(old.urls[0]!.expiresAt)).toBeLessThan(Date.now());
    expect((await fetch(old.urls[0]!.url)).status).toBe(403);
    clockOffsetMs = -(900 - 30) * 1000; // signed 870 s ago: 30 s left
    const fresh = await sign(newSigner(), { orgId, operation: 'download', keys: ['a.bin'] });
    expect(Date.parse(fresh.urls[0]!.expiresAt)).toBeGreaterThan(Date.now());
    expect((await fetch(fresh.urls[0]!.url)).status).toBe(200);
  });

  it('property: any key (unicode, spaces, + % # ? &) gives a URL that downloads exactly that object', async () => {
    const orgId = randomUUID();
    const signer = newSigner();
    const segment = fc
      .array(
        fc.oneof(
          fc.constantFrom(' ', '+', '%', '#', '?', '&', '=', '!', "'", '(', ')', '*', '~', ':', '@', ',', ';', '$', '[', ']', 'ü', 'é', '火', '😀', '-', '_', '.'),
          fc.stringMatching(/^[A-Za-z0-9]{1,5}$/),
          fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }),
        ),
        { minLength: 1, maxLength: 8 },
      )
      .map((p) => p.join(''))
      // No '/' inside a segment: a generated "/" would make an empty segment ("//A"), which raw s3rver's file
      // store cannot hold (the local stack's S3 front can: test/integration/local-s3-keys.test.ts covers those).
      .filter((s) => s !== '.' && s !== '..' && !s.includes('/') && !/[\u0000-\u001f\u007f-\u009f]/.test(s));
    const key = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/'));
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(key, async (k) => {
        if (seen.has(k)) return;
        seen.add(k);
        const content = `object:${k}`;
        // Seed independently (SDK, admin key), so a wrong URL cannot read back what it wrote itself.
        await adminS3.send(new PutObjectCommand({ Bucket: DEFAULT_BUCKET, Key: `orgs/${orgId}/${k}`, Body: content }));
        const res = await fetch((await sign(signer, { orgId, operation: 'download', keys: [k] })).urls[0]!.url);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe(content);
        // And the PUT URL writes exactly that object.
        const up = await sign(signer, { orgId, operation: 'upload', keys: [k] });
        expect((await put(up.urls[0]!.url, `${content}!`)).status).toBe(200);
        const back = await adminS3.send(new GetObjectCommand({ Bucket: DEFAULT_BUCKET, Key: `orgs/${orgId}/${k}` }));
        expect(await back.Body!.transformToString()).toBe(`${content}!`);
      }),
      { numRuns: 60 },
    );
  });

  it('uploads through multipart part URLs, completes, and downloads the whole object', async () => {
    const orgId = randomUUID();
    activate(orgId, 'acme-b', 'fleet/');
    const signer = newSigner();
    const start = await sign(signer, { orgId, operation: 'multipart-start', key: 'big/fw.bin', parts: 3 });
    expect(start.uploadId).toBeTruthy();
    expect(start.urls).toHaveLength(3);
    // S3 wants >= 5 MiB for every part but the last.
    const parts = [randomBytes(5 * 1024 * 1024), randomBytes(5 * 1024 * 1024), randomBytes(1234)];
    const etags: { partNumber: number; etag: string }[] = [];
    for (const u of start.urls) {
      const res = await put(u.url, parts[u.partNumber! - 1]!);
      expect(res.status).toBe(200);
      etags.push({ partNumber: u.partNumber!, etag: res.headers.get('etag')! });
    }
    const done = await sign(signer, { orgId, operation: 'multipart-complete', key: 'big/fw.bin', uploadId: start.uploadId, parts: etags.reverse() });
    // Real S3 answers `"<md5 of md5s>-3"`; s3rver answers a plain MD5, so only its presence is checked.
    expect(done.etag).toMatch(/^"[0-9a-f]{32}(-3)?"$/);
    const down = await sign(signer, { orgId, operation: 'download', keys: ['big/fw.bin'] });
    const got = Buffer.from(await (await fetch(down.urls[0]!.url)).arrayBuffer());
    expect(got.equals(Buffer.concat(parts))).toBe(true);
    const obj = await adminS3.send(new GetObjectCommand({ Bucket: 'acme-b', Key: 'fleet/big/fw.bin' }));
    expect(Buffer.from(await obj.Body!.transformToByteArray()).equals(got)).toBe(true);
  });

  it('signs all 10,000 part URLs in pages of one upload, and URLs from the first and last page both land in it', async () => {
    const orgId = randomUUID();
    activate(orgId, 'acme-c');
    const signer = newSigner();
    const request = { orgId, operation: 'multipart-start', key: 'paged/fw.bin', parts: 10_000 };
    const pages = [await sign(signer, { ...request, firstPart: 1 })];
    while (pages[pages.length - 1]!.nextPart) {
      pages.push(await sign(signer, { ...request, uploadId: pages[0]!.uploadId, firstPart: pages[pages.length - 1]!.nextPart }));
    }
    expect(pages.length).toBeGreaterThan(1);
    const urls = pages.flatMap((p) => p.urls);
    expect(urls.map((u) => u.partNumber)).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    // S3 wants >= 5 MiB for every part but the last: part 1 is 5 MiB, part 10,000 the tail.
    const first = randomBytes(5 * 1024 * 1024);
    const last = randomBytes(321);
    const etags: { partNumber: number; etag: string }[] = [];
    for (const [u, body] of [[urls[0]!, first], [urls[9_999]!, last]] as const) {
      // A fresh connection: signing 10,000 URLs can take longer than the server's 5 s keep-alive, and fetch
      // would then race the server closing the idle socket it reuses (ECONNRESET).
      const res = await putOnFreshConnection(u.url, body);
      expect(res.status).toBe(200);
      etags.push({ partNumber: u.partNumber!, etag: res.etag });
    }
    await sign(signer, { orgId, operation: 'multipart-complete', key: 'paged/fw.bin', uploadId: pages[0]!.uploadId, parts: etags });
    const down = await sign(signer, { orgId, operation: 'download', keys: ['paged/fw.bin'] });
    const got = Buffer.from(await (await fetch(down.urls[0]!.url)).arrayBuffer());
    expect(got.equals(Buffer.concat([first, last]))).toBe(true);
  });

  it('refuses a tampered part URL (another part number)', async () => {
    const orgId = randomUUID();
    const start = await sign(newSigner(), { orgId, operation: 'multipart-start', key: 'p.bin', parts: 2 });
    const res = await put(start.urls[0]!.url.replace('partNumber=1', 'partNumber=2'), 'x');
    expect(res.status).toBe(403);
  });
});

describe('Integration: org isolation', () => {
  type Setup = { kind: 'default' } | { kind: 'custom'; bucket: string; prefix?: string } | { kind: 'cloudfront'; bucket: string; prefix?: string; host: string };

  const setupArb = (i: number): fc.Arbitrary<Setup> =>
    fc.oneof(
      fc.constant<Setup>({ kind: 'default' }),
      fc.record({ kind: fc.constant('custom' as const), bucket: fc.constant(CUSTOMER_BUCKETS[i]!), prefix: fc.option(fc.constantFrom('p/', 'peridio/', 'x-'), { nil: undefined }) }),
      fc.record({
        kind: fc.constant('cloudfront' as const),
        bucket: fc.constant(CUSTOMER_BUCKETS[i]!),
        prefix: fc.option(fc.constantFrom('p/', 'cdn/'), { nil: undefined }),
        host: fc.constant(`d${i}abcdef.cloudfront.net`),
      }),
    );

  it('property: org A never gets a URL for org B’s bucket, prefix or host', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const secrets = mockClient(SecretsManagerClient);
    secrets.on(GetSecretValueCommand).resolves({ SecretString: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string });
    try {
      await fc.assert(
        fc.asyncProperty(
          setupArb(0),
          setupArb(1),
          fc.constantFrom('download', 'upload', 'multipart-start'),
          fc.array(fc.stringMatching(/^[a-z0-9/ +%&?#]{1,20}$/).filter((k) => !k.split('/').some((s) => s === '.' || s === '..' || s === '')), { minLength: 1, maxLength: 5 }),
          async (setupA, setupB, operation, keys) => {
            records = {};
            const orgA = randomUUID();
            const orgB = randomUUID();
            const apply = (orgId: string, s: Setup) => {
              if (s.kind === 'custom') activate(orgId, s.bucket, s.prefix);
              if (s.kind === 'cloudfront') {
                activate(orgId, s.bucket, s.prefix, {
                  type: 'cloudfront', host: s.host, keyPairId: 'K2JCJMDEHXQW5F', hashAlgorithm: 'SHA256',
                  privateKeySecretArn: `arn:aws:secretsmanager:us-east-1:111111111111:secret:${orgId}`,
                });
              }
            };
            apply(orgA, setupA);
            apply(orgB, setupB);
            const signer = newSigner();
            // Interleave: B first, so any cache keyed wrongly would leak B's route into A's answer.
            const request = (orgId: string) =>
              operation === 'multipart-start'
                ? { orgId, operation, key: keys[0], parts: 2 }
                : { orgId, operation, keys };
            await signer.sign(request(orgB));
            const outA = await signer.sign(request(orgA));
            const base = (orgId: string, s: Setup, via: string): string => {
              if (s.kind === 'default') return `${endpoint}/${DEFAULT_BUCKET}/orgs/${orgId}/`;
              if (s.kind === 'cloudfront' && via === 'cloudfront') return `https://${s.host}/${s.prefix ?? ''}`;
              return `${endpoint}/${s.bucket}/${s.prefix ?? ''}`;
            };
            const expectedA = base(orgA, setupA, outA.via);
            const forbiddenB = [
              setupB.kind === 'default' ? `orgs/${orgB}` : `/${setupB.bucket}/`,
              ...(setupB.kind === 'cloudfront' ? [setupB.host] : []),
            ];
            for (const u of outA.urls) {
              expect(u.url.startsWith(expectedA)).toBe(true);
              for (const f of forbiddenB) expect(u.url).not.toContain(f);
              expect(u.url).not.toContain(orgB);
            }
          },
        ),
        { numRuns: 80 },
      );
    } finally {
      secrets.restore();
    }
  });
});
