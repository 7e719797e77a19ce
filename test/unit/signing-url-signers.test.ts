import { generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { getSignedUrl as cloudFrontSignerGetSignedUrl } from '@aws-sdk/cloudfront-signer';
import { getSignedUrl as s3PresignerGetSignedUrl } from '@aws-sdk/s3-request-presigner';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  UNPINNED_KEY_TTL_SECONDS,
  CloudFrontKeyCache,
  parseCloudFrontPrivateKey,
  sdkGetSecret,
} from '#shared/cloudfront-keys';
import { CloudFrontKeyError, TransientError } from '#shared/errors';
import {
  cannedPolicy,
  cloudFrontBase64,
  cloudFrontUrl,
  presignS3Url,
  rfc3986Encode,
  resolveS3BucketEndpoint,
  unsignedCloudFrontUrl,
  verifyCloudFrontUrl,
} from '#shared/url-signers';

const credentials = {
  accessKeyId: 'ASIAEXAMPLEEXAMPLE00',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'FwoGZXIvYXdzE+session/token=',
  expiration: new Date('2026-11-30T08:00:00Z'),
};
const now = new Date('2026-11-30T07:00:00Z');

/** Keys with the characters that break naive signers: unicode, spaces, + % # ? & and sub-delims. */
const awkwardKey = fc
  .array(
    fc.oneof(
      fc.constantFrom(' ', '+', '%', '#', '?', '&', '=', '!', "'", '(', ')', '*', '~', ':', '@', ',', ';', '$', 'ü', '火', '😀', '-', '_'),
      fc.stringMatching(/^[A-Za-z0-9]{1,6}$/),
    ),
    { minLength: 1, maxLength: 12 },
  )
  .map((parts) => parts.join(''))
  .chain((first) => fc.tuple(fc.constant(first), fc.array(fc.stringMatching(/^[a-z0-9 +%]{1,8}$/), { maxLength: 3 })))
  .map(([first, rest]) => [first, ...rest].join('/'))
  .filter((k) => !k.split('/').some((s) => s === '.' || s === '..'));

function withEndpointEnv(s3: string | undefined, any: string | undefined) {
  const saved = { s3: process.env.AWS_ENDPOINT_URL_S3, any: process.env.AWS_ENDPOINT_URL };
  if (s3 === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
  else process.env.AWS_ENDPOINT_URL_S3 = s3;
  if (any === undefined) delete process.env.AWS_ENDPOINT_URL;
  else process.env.AWS_ENDPOINT_URL = any;
  return () => {
    if (saved.s3 === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
    else process.env.AWS_ENDPOINT_URL_S3 = saved.s3;
    if (saved.any === undefined) delete process.env.AWS_ENDPOINT_URL;
    else process.env.AWS_ENDPOINT_URL = saved.any;
  };
}

describe('Function: resolveS3BucketEndpoint', () => {
  let restore: () => void = () => {};
  afterEach(() => restore());

  it('uses virtual-hosted style for real S3 in the bucket region', async () => {
    restore = withEndpointEnv(undefined, undefined);
    expect(await resolveS3BucketEndpoint('acme-firmware', 'eu-west-1')).toEqual({
      protocol: 'https:',
      hostname: 'acme-firmware.s3.eu-west-1.amazonaws.com',
      port: undefined,
      basePath: '',
    });
  });

  it('falls back to path style for a bucket name with dots, as the SDK does over https', async () => {
    restore = withEndpointEnv(undefined, undefined);
    const e = await resolveS3BucketEndpoint('acme.firmware', 'us-east-1');
    expect(e.basePath).toBe('/acme.firmware');
  });

  it('uses path style for an IP endpoint from AWS_ENDPOINT_URL_S3', async () => {
    restore = withEndpointEnv('http://127.0.0.1:4569', undefined);
    expect(await resolveS3BucketEndpoint('peridio-binaries-local', 'us-east-1')).toEqual({
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 4569,
      basePath: '/peridio-binaries-local',
    });
  });

  it('honours AWS_ENDPOINT_URL when no S3-specific endpoint is set', async () => {
    restore = withEndpointEnv(undefined, 'http://127.0.0.1:4570');
    expect((await resolveS3BucketEndpoint('b-1', 'us-east-1')).port).toBe(4570);
  });

  it('follows the SDK for a localhost endpoint too (virtual-hosted, which is why the stack uses 127.0.0.1)', async () => {
    restore = withEndpointEnv('http://localhost:4571', undefined);
    expect((await resolveS3BucketEndpoint('b-1', 'us-east-1')).hostname).toBe('b-1.localhost');
  });

  it('keeps working while S3Client.send is mocked (it never sends)', async () => {
    restore = withEndpointEnv(undefined, undefined);
    const s3 = mockClient(S3Client);
    try {
      expect((await resolveS3BucketEndpoint('mocked-bucket', 'ap-southeast-2')).hostname).toBe(
        'mocked-bucket.s3.ap-southeast-2.amazonaws.com',
      );
      expect(s3.calls()).toHaveLength(0);
    } finally {
      s3.restore();
    }
  });
});

describe('Function: presignS3Url', () => {
  let restore: () => void = () => {};
  afterEach(() => restore());

  const sdkClient = (region: string) =>
    new S3Client({ region, credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });

  it.each([
    ['real S3', undefined],
    ['an IP endpoint', 'http://127.0.0.1:4572'],
  ])('is byte-identical to @aws-sdk/s3-request-presigner for GET, PUT and UploadPart on %s', async (_name, endpoint) => {
    restore = withEndpointEnv(endpoint, undefined);
    await fc.assert(
      fc.asyncProperty(awkwardKey, fc.integer({ min: 1, max: 604_800 }), async (key, expiresIn) => {
        const region = 'eu-central-1';
        const bucket = 'acme-firmware';
        const client = sdkClient(region);
        const sdkGet = await s3PresignerGetSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), {
          expiresIn,
          signingDate: now,
        });
        const ours = await presignS3Url({
          credentials, region, bucket, key, method: 'GET', expiresInSeconds: expiresIn, now,
          // The SDK adds its operation marker `x-id`; sign the same query to compare byte for byte.
          extraQuery: { 'x-id': 'GetObject' },
        });
        expect(ours).toBe(sdkGet);
        const sdkPut = await s3PresignerGetSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: key }), {
          expiresIn,
          signingDate: now,
        });
        expect(
          await presignS3Url({ credentials, region, bucket, key, method: 'PUT', expiresInSeconds: expiresIn, now, extraQuery: { 'x-id': 'PutObject' } }),
        ).toBe(sdkPut);
        const sdkPart = await s3PresignerGetSignedUrl(
          client,
          new UploadPartCommand({ Bucket: bucket, Key: key, PartNumber: 7, UploadId: 'up/+=id' }),
          { expiresIn, signingDate: now },
        );
        expect(
          await presignS3Url({
            credentials, region, bucket, key, method: 'PUT', expiresInSeconds: expiresIn, now,
            extraQuery: { 'x-id': 'UploadPart', partNumber: '7', uploadId: 'up/+=id' },
          }),
        ).toBe(sdkPart);
      }),
      { numRuns: 40 },
    );
  });

  it('puts no x-amz-checksum-* parameter into a presigned PUT', async () => {
    restore = withEndpointEnv(undefined, undefined);
    const url = await presignS3Url({ credentials, region: 'us-east-1', bucket: 'b-1', key: 'fw/a.bin', method: 'PUT', expiresInSeconds: 900, now });
    expect(url.toLowerCase()).not.toContain('x-amz-checksum');
    expect(url.toLowerCase()).not.toContain('x-amz-sdk-checksum');
    expect(new URL(url).searchParams.get('X-Amz-SignedHeaders')).toBe('host');
  });

  it('signs for the bucket region and carries the session token and expiry', async () => {
    restore = withEndpointEnv(undefined, undefined);
    const url = new URL(
      await presignS3Url({ credentials, region: 'ap-south-1', bucket: 'b-1', key: 'k', method: 'GET', expiresInSeconds: 321, now }),
    );
    expect(url.searchParams.get('X-Amz-Credential')).toBe(`${credentials.accessKeyId}/20261130/ap-south-1/s3/aws4_request`);
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe(credentials.sessionToken);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('321');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261130T070000Z');
  });

  it('refuses a lifetime over 7 days', async () => {
    restore = withEndpointEnv(undefined, undefined);
    await expect(
      presignS3Url({ credentials, region: 'us-east-1', bucket: 'b-1', key: 'k', method: 'GET', expiresInSeconds: 604_801, now }),
    ).rejects.toThrow(/expiration date less than one week in the future/);
  });
});

// ---------------------------------------------------------------------------------------------
// CloudFront
// ---------------------------------------------------------------------------------------------

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const ecPem = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

function verifies(url: string, publicKey: KeyObject, keyPairId: string): boolean {
  return verifyCloudFrontUrl(url, publicKey, keyPairId).valid;
}

describe('Function: cloudFrontUrl', () => {
  const keyPairId = 'K2JCJMDEHXQW5F';
  const expires = 1_800_000_000;

  it('is byte-identical to @aws-sdk/cloudfront-signer for RSA-SHA1, for any key', () => {
    fc.assert(
      fc.property(awkwardKey, fc.integer({ min: 1_700_000_000, max: 2_147_483_647 }), (key, expiresEpochSeconds) => {
        const ours = cloudFrontUrl({
          host: 'd111111abcdef8.cloudfront.net', objectPath: `peridio/${key}`, keyPairId,
          privateKey: rsa.privateKey, hashAlgorithm: 'SHA1', expiresEpochSeconds,
        });
        const oracle = cloudFrontSignerGetSignedUrl({
          url: unsignedCloudFrontUrl('d111111abcdef8.cloudfront.net', `peridio/${key}`),
          keyPairId,
          privateKey: rsaPem,
          dateLessThan: new Date(expiresEpochSeconds * 1000).toISOString(),
        });
        expect(ours).toBe(oracle);
      }),
      { numRuns: 60 },
    );
  });

  it('equals the plain construction (unsignedCloudFrontUrl + cannedPolicy + sign) across hosts, expiries, key pairs and hashes, whatever came before', () => {
    // cloudFrontUrl caches per host and per (expiry, key pair, hash); interleaving them must never mix pieces.
    const hosts = ['d111111abcdef8.cloudfront.net', 'cdn.example.com', '127.0.0.1:4566', 'cdn.exämple.com', 'we"ird\\host'];
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            host: fc.constantFrom(...hosts),
            key: awkwardKey,
            expires: fc.constantFrom(1_700_000_000, 1_700_000_001, 2_147_483_647),
            keyPairId: fc.constantFrom(keyPairId, 'K2OTHERKEY0001', 'K+/=?'),
            hash: fc.constantFrom('SHA1' as const, 'SHA256' as const),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        (calls) => {
          for (const c of calls) {
            const ours = cloudFrontUrl({ host: c.host, objectPath: c.key, keyPairId: c.keyPairId, privateKey: rsa.privateKey, hashAlgorithm: c.hash, expiresEpochSeconds: c.expires });
            const url = unsignedCloudFrontUrl(c.host, c.key);
            const signature = cryptoSign(c.hash === 'SHA256' ? 'sha256' : 'sha1', Buffer.from(cannedPolicy(url, c.expires)), rsa.privateKey);
            const plain = `${url}?Expires=${c.expires}&Key-Pair-Id=${rfc3986Encode(c.keyPairId)}&Signature=${cloudFrontBase64(signature)}${c.hash === 'SHA256' ? '&Hash-Algorithm=SHA256' : ''}`;
            expect(ours).toBe(plain);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('also matches the installed signer for RSA-SHA256 (3.1166.0 has an `algorithm` option)', () => {
    const ours = cloudFrontUrl({
      host: 'cdn.example.com', objectPath: 'a b/ü.fw', keyPairId, privateKey: rsa.privateKey, hashAlgorithm: 'SHA256', expiresEpochSeconds: expires,
    });
    const oracle = cloudFrontSignerGetSignedUrl({
      url: 'https://cdn.example.com/a%20b/%C3%BC.fw', keyPairId, privateKey: rsaPem,
      dateLessThan: new Date(expires * 1000).toISOString(), algorithm: 'SHA256',
    } as Parameters<typeof cloudFrontSignerGetSignedUrl>[0]);
    expect(ours).toBe(oracle);
    expect(ours.endsWith('&Hash-Algorithm=SHA256')).toBe(true);
  });

  it.each([
    ['RSA', 'SHA1'],
    ['RSA', 'SHA256'],
    ['EC', 'SHA1'],
    ['EC', 'SHA256'],
  ] as const)('verifies with the public key for %s %s, and a tampered URL does not', (kind, hashAlgorithm) => {
    const pair = kind === 'RSA' ? rsa : ec;
    fc.assert(
      fc.property(awkwardKey, (key) => {
        const url = cloudFrontUrl({
          host: 'd111111abcdef8.cloudfront.net', objectPath: key, keyPairId, privateKey: pair.privateKey, hashAlgorithm, expiresEpochSeconds: expires,
        });
        expect(verifies(url, pair.publicKey, keyPairId)).toBe(true);
        // Another object, a later expiry, another key ID, or the other hash: all refused.
        expect(verifies(url.replace('.net/', '.net/x'), pair.publicKey, keyPairId)).toBe(false);
        expect(verifies(url.replace(`Expires=${expires}`, `Expires=${expires + 1}`), pair.publicKey, keyPairId)).toBe(false);
        expect(verifies(url, pair.publicKey, 'K0THERKEY00000')).toBe(false);
        const otherHash = hashAlgorithm === 'SHA256' ? url.replace('&Hash-Algorithm=SHA256', '') : `${url}&Hash-Algorithm=SHA256`;
        expect(verifies(otherHash, pair.publicKey, keyPairId)).toBe(false);
      }),
      { numRuns: 15 },
    );
  });

  it('gives DER-encoded ECDSA signatures for EC keys', () => {
    const url = cloudFrontUrl({ host: 'cdn.example.com', objectPath: 'x', keyPairId, privateKey: ec.privateKey, hashAlgorithm: 'SHA256', expiresEpochSeconds: expires });
    const sig = new URL(url).searchParams.get('Signature')!;
    const der = Buffer.from(sig.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64');
    expect(der[0]).toBe(0x30); // ASN.1 SEQUENCE of r, s
    expect(der[1]).toBe(der.length - 2);
  });

  it('uses https for real hosts and plain http only for a loopback edge', () => {
    expect(unsignedCloudFrontUrl('cdn.example.com', 'a/b')).toBe('https://cdn.example.com/a/b');
    expect(unsignedCloudFrontUrl('127.0.0.1:4580', 'a/b')).toBe('http://127.0.0.1:4580/a/b');
    expect(unsignedCloudFrontUrl('127.0.0.1.evil.example', 'a')).toMatch(/^https:/);
  });

  it('percent-encodes each path segment and keeps the slashes', () => {
    expect(unsignedCloudFrontUrl('cdn.example.com', 'p/a b+c%d#e?f&g/ü')).toBe('https://cdn.example.com/p/a%20b%2Bc%25d%23e%3Ff%26g/%C3%BC');
  });

  it("encodes signatures in CloudFront's URL-safe base64 for every length", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const b = Buffer.from(bytes);
        const reference = b.toString('base64').replace(/[+=/]/g, (c) => (c === '+' ? '-' : c === '=' ? '_' : '~'));
        expect(cloudFrontBase64(b)).toBe(reference);
      }),
    );
  });

  it('refuses an expiry that is not a positive 32-bit epoch second', () => {
    for (const bad of [0, -1, 1.5, 2_147_483_648]) {
      expect(() =>
        cloudFrontUrl({ host: 'cdn.example.com', objectPath: 'x', keyPairId, privateKey: rsa.privateKey, hashAlgorithm: 'SHA1', expiresEpochSeconds: bad }),
      ).toThrow(RangeError);
    }
  });
});

describe('Function: parseCloudFrontPrivateKey', () => {
  it('accepts RSA 2048 and EC P-256 keys in PKCS#8, PKCS#1 and SEC1 PEM', () => {
    expect(parseCloudFrontPrivateKey(rsaPem).asymmetricKeyType).toBe('rsa');
    expect(parseCloudFrontPrivateKey(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string).asymmetricKeyType).toBe('rsa');
    expect(parseCloudFrontPrivateKey(ecPem).asymmetricKeyType).toBe('ec');
    expect(parseCloudFrontPrivateKey(ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string).asymmetricKeyType).toBe('ec');
  });

  it.each([
    ['RSA 1024', () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, /RSA 1024/],
    ['EC P-384', () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, /secp384r1/],
    ['Ed25519', () => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, /ed25519/],
    ['a public key', () => rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string, /not a readable/],
    ['garbage', () => 'not a key', /not a readable/],
  ])('refuses %s with CloudFrontKeyError and never echoes the key', (_name, make, message) => {
    const pem = make();
    let caught: unknown;
    try {
      parseCloudFrontPrivateKey(pem);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CloudFrontKeyError);
    expect((caught as Error).name).toBe('CloudFrontKeyError');
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toContain('BEGIN');
  });
});

describe('Class: CloudFrontKeyCache', () => {
  const secrets = mockClient(SecretsManagerClient);
  const client = sdkGetSecret(new SecretsManagerClient({ region: 'us-east-1' }));
  const arn = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:cf-key-abc';
  let t = 0;
  let keyCache: CloudFrontKeyCache;
  beforeEach(() => {
    secrets.reset();
    t = 0;
    keyCache = new CloudFrontKeyCache({ getSecret: client, now: () => t });
  });

  it('reads the pinned version once and parses it once, however many callers', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: rsaPem });
    const keys = await Promise.all(Array.from({ length: 50 }, () => keyCache.get(arn, 'v'.repeat(32))));
    expect(new Set(keys).size).toBe(1);
    await keyCache.get(arn, 'v'.repeat(32));
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(secrets.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({ SecretId: arn, VersionId: 'v'.repeat(32) });
    expect(keyCache.getSecretValueCalls).toBe(1);
  });

  it('keeps different versions of one secret apart', async () => {
    secrets.on(GetSecretValueCommand, { VersionId: 'a'.repeat(32) }).resolves({ SecretString: rsaPem });
    secrets.on(GetSecretValueCommand, { VersionId: 'b'.repeat(32) }).resolves({ SecretString: ecPem });
    expect((await keyCache.get(arn, 'a'.repeat(32))).asymmetricKeyType).toBe('rsa');
    expect((await keyCache.get(arn, 'b'.repeat(32))).asymmetricKeyType).toBe('ec');
  });

  it(`re-reads an unpinned secret after ${UNPINNED_KEY_TTL_SECONDS} s, so a rotation is picked up`, async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ privateKey: ecPem }) });
    await keyCache.get(arn);
    t += (UNPINNED_KEY_TTL_SECONDS - 1) * 1000;
    await keyCache.get(arn);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    t += 2000;
    await keyCache.get(arn);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('turns a missing or unreadable secret into CloudFrontKeyError and retries on the next call', async () => {
    const notFound = Object.assign(new Error('Secrets Manager can’t find the specified secret.'), { name: 'ResourceNotFoundException' });
    secrets.on(GetSecretValueCommand).rejectsOnce(notFound).resolves({ SecretBinary: Buffer.from(rsaPem) });
    await expect(keyCache.get(arn)).rejects.toBeInstanceOf(CloudFrontKeyError);
    expect((await keyCache.get(arn)).asymmetricKeyType).toBe('rsa');
  });

  it('turns throttling into TransientError', async () => {
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    await expect(keyCache.get(arn)).rejects.toBeInstanceOf(TransientError);
  });

  it('refuses a secret that holds no usable key', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ other: 1 }) });
    await expect(keyCache.get(arn)).rejects.toThrow(/privateKey/);
  });
});
