import { generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DownloadConfig, StepInput } from '../../functions/shared/backend-records';
import { AssumeRoleDeniedError, CloudFrontKeyError } from '../../functions/shared/errors';
import { createHandler } from '../../functions/onboarding/verify-download/handler';
import { verifyDownload, type HttpFetch, type VerifyDownloadDeps } from '../../functions/onboarding/verify-download/verify-download';
import { sha256Hex } from '../../functions/onboarding/verify-upload/canary';
import { FakeRecorder, NOW, stepInput } from './helpers/verify-fixtures';

const KEY = 'fw/.peridio-verification/3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a-prod-1/single-put.bin';
const BODY = Buffer.alloc(4096, 7);
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

const CLOUDFRONT: DownloadConfig = {
  type: 'cloudfront',
  host: 'd1234567890.cloudfront.net',
  keyPairId: 'K2JCJMDEHXQW5F',
  hashAlgorithm: 'SHA1',
  privateKeySecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:cf-key',
};

function context(download: DownloadConfig = { type: 's3' }, overrides: Partial<StepInput> = {}): StepInput {
  return stepInput({
    requestedBy: 'support',
    trust: undefined,
    download,
    verifyUpload: { canaryKeys: [KEY], canaries: [{ key: KEY, bytes: BODY.length, sha256: sha256Hex(BODY) }] } as StepInput['verifyUpload'],
    ...overrides,
  });
}


/** Answers like a CloudFront distribution that enforces signed URLs, or like S3 for presigned URLs. */
function fakeNetwork(opts: { enforceSigning?: boolean; body?: Buffer; signedStatus?: number; throwOnce?: Error } = {}) {
  const requests: string[] = [];
  let throwOnce = opts.throwOnce;
  const fetch: HttpFetch = async (url) => {
    requests.push(url);
    if (throwOnce) {
      const e = throwOnce;
      throwOnce = undefined;
      throw e;
    }
    const u = new URL(url);
    const signed = u.searchParams.has('Signature') || u.searchParams.has('X-Amz-Signature');
    if (!signed) return new Response('<Error><Code>MissingKey</Code><Message>Missing Key-Pair-Id query parameter or cookie value</Message></Error>', { status: opts.enforceSigning === false ? 200 : 403 });
    if (opts.signedStatus) return new Response('<Error><Message>Unknown Key</Message></Error>', { status: opts.signedStatus });
    return new Response(new Uint8Array(opts.body ?? BODY), { status: 200 });
  };
  return { fetch, requests };
}

let recorder: FakeRecorder;
let deps: VerifyDownloadDeps;

beforeEach(() => {
  recorder = new FakeRecorder();
  deps = {
    customerCredentials: async () => ({ accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'example-secret', sessionToken: 'token', expiration: new Date(NOW.getTime() + 3600_000) }),
    cloudFrontKey: async () => privateKey,
    clock: () => NOW,
    records: recorder,
    fetch: fakeNetwork().fetch,
  };
});

describe('Function: verifyDownload (S3)', () => {
  it('downloads the canary through an S3 presigned GET, compares bytes and sets VERIFIED', async () => {
    const net = fakeNetwork();
    deps.fetch = net.fetch;

    const out = await verifyDownload(context(), deps);

    expect(out).toEqual({ via: 's3', verified: [KEY] });
    const url = new URL(net.requests[0]!);
    expect(url.hostname).toBe('acme-firmware.s3.us-east-1.amazonaws.com');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe('token');
    expect(recorder.result('download-signed')).toBe('PASS');
    expect(recorder.result('download-unsigned-refused')).toBe('SKIP');
    expect(recorder.statuses).toEqual(['VERIFIED']);
  });

  it('throws DownloadVerificationError when the bytes differ', async () => {
    deps.fetch = fakeNetwork({ body: Buffer.alloc(4096, 8) }).fetch;

    await expect(verifyDownload(context(), deps)).rejects.toMatchObject({ name: 'DownloadVerificationError', message: expect.stringContaining('differ') });
    expect(recorder.result('download-signed')).toBe('FAIL');
    expect(recorder.statuses).toEqual([]);
  });

  it('throws DownloadVerificationError naming s3:GetObject when S3 refuses the presigned URL', async () => {
    deps.fetch = fakeNetwork({ signedStatus: 403 }).fetch;

    await expect(verifyDownload(context(), deps)).rejects.toMatchObject({ name: 'DownloadVerificationError', message: expect.stringContaining('s3:GetObject') });
  });

  it('throws TransientError on a 503 (throttled) download, recording nothing', async () => {
    deps.fetch = fakeNetwork({ signedStatus: 503 }).fetch;

    await expect(verifyDownload(context(), deps)).rejects.toMatchObject({ name: 'TransientError' });
    expect(recorder.checks).toEqual([]);
  });

  it('throws TransientError when the connection resets', async () => {
    deps.fetch = fakeNetwork({ throwOnce: Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } }) }).fetch;

    await expect(verifyDownload(context(), deps)).rejects.toMatchObject({ name: 'TransientError' });
  });

  it('records and rethrows AssumeRoleDeniedError when the customer withdrew trust', async () => {
    deps.customerCredentials = async () => {
      throw new AssumeRoleDeniedError('denied', 'customer');
    };

    await expect(verifyDownload(context(), deps)).rejects.toMatchObject({ name: 'AssumeRoleDeniedError' });
    expect(recorder.result('download-signed')).toBe('FAIL');
  });
});

describe('Function: verifyDownload (CloudFront)', () => {
  it('downloads through a signed CloudFront URL and sees an unsigned request refused with 403', async () => {
    const net = fakeNetwork();
    deps.fetch = net.fetch;

    const out = await verifyDownload(context(CLOUDFRONT), deps);

    expect(out).toEqual({ via: 'cloudfront', verified: [KEY], unsignedStatus: 403 });
    const signed = new URL(net.requests[0]!);
    expect(signed.origin).toBe('https://d1234567890.cloudfront.net');
    expect(signed.pathname).toBe(`/${KEY}`);
    expect(signed.searchParams.get('Key-Pair-Id')).toBe('K2JCJMDEHXQW5F');
    expect(Number(signed.searchParams.get('Expires'))).toBe(NOW.getTime() / 1000 + 300);
    const policy = `{"Statement":[{"Resource":"https://d1234567890.cloudfront.net/${KEY}","Condition":{"DateLessThan":{"AWS:EpochTime":${NOW.getTime() / 1000 + 300}}}}]}`;
    const sig = Buffer.from(signed.searchParams.get('Signature')!.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64');
    expect(cryptoVerify('sha1', Buffer.from(policy), privateKey, sig)).toBe(true);
    expect(net.requests[1]).toBe(`https://d1234567890.cloudfront.net/${KEY}`);
    expect(recorder.result('download-unsigned-refused')).toBe('PASS');
    expect(recorder.statuses).toEqual(['VERIFIED']);
  });

  it('throws CloudFrontSigningNotEnforcedError when an unsigned request is served', async () => {
    deps.fetch = fakeNetwork({ enforceSigning: false }).fetch;

    await expect(verifyDownload(context(CLOUDFRONT), deps)).rejects.toMatchObject({ name: 'CloudFrontSigningNotEnforcedError' });
    expect(recorder.result('download-signed')).toBe('PASS');
    expect(recorder.result('download-unsigned-refused')).toBe('FAIL');
    expect(recorder.statuses).toEqual([]);
  });

  it('explains "Unknown Key" (a key group ID or a key outside the trusted group) in the error', async () => {
    deps.fetch = fakeNetwork({ signedStatus: 403 }).fetch;

    await expect(verifyDownload(context(CLOUDFRONT), deps)).rejects.toMatchObject({ name: 'DownloadVerificationError', message: expect.stringContaining('Unknown Key') });
    expect(recorder.result('download-unsigned-refused')).toBe('SKIP');
  });

  it('records and rethrows CloudFrontKeyError when the key secret cannot be read', async () => {
    deps.cloudFrontKey = async () => {
      throw new CloudFrontKeyError('Cannot read the CloudFront key secret: ResourceNotFoundException');
    };

    await expect(verifyDownload(context(CLOUDFRONT), deps)).rejects.toMatchObject({ name: 'CloudFrontKeyError' });
    expect(recorder.result('download-signed')).toBe('FAIL');
  });

  it('signs with SHA-256 when the config says so', async () => {
    const net = fakeNetwork();
    deps.fetch = net.fetch;

    await verifyDownload(context({ ...CLOUDFRONT, hashAlgorithm: 'SHA256' }), deps);

    expect(new URL(net.requests[0]!).searchParams.get('Hash-Algorithm')).toBe('SHA256');
  });
});

describe('Handler: verify-download', () => {
  it('refuses a context without the canaries VerifyUpload returns', async () => {
    const handler = createHandler(deps);

    await expect(handler(context({ type: 's3' }, { verifyUpload: undefined }), {} as never)).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('verifyUpload.canaries'),
    });
  });

  it('refuses a context with a bad org ID', async () => {
    const handler = createHandler(deps);

    await expect(handler({ ...context(), orgId: 'ACME' }, {} as never)).rejects.toMatchObject({ name: 'ValidationError', message: expect.stringContaining('orgId') });
  });
});
