import { generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DownloadConfig } from '#shared/records/model';
import type { StepInput } from '#shared/records/workflow-context';
import { AssumeRoleDeniedError, CloudFrontKeyError } from '#shared/errors';
import { createHandler } from '../../functions/onboarding/verify-download/handler';
import { propagationWaitSeconds, verifyDownload, type HttpFetch, type VerifyDownloadDeps } from '../../functions/onboarding/verify-download/verify-download';
import { sha256Hex } from '#shared/canary';
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

    expect(out).toEqual({ via: 's3', verified: [KEY], propagating: false });
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

describe('Function: verifyDownload (SSE-KMS)', () => {
  it('names kms:Decrypt and the key when S3 refuses the presigned GET for KMS', async () => {
    const key = 'arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    deps.fetch = async () =>
      new Response(
        `<Error><Code>AccessDenied</Code><Message>User: arn:aws:sts::222222222222:assumed-role/r/s is not authorized to perform: kms:Decrypt on resource: ${key} because no identity-based policy allows the kms:Decrypt action</Message></Error>`,
        { status: 403 },
      );

    await expect(verifyDownload(context(), deps)).rejects.toMatchObject({ name: 'KmsPermissionError', message: expect.stringMatching(new RegExp(`kms:Decrypt.*${key}`)) });
    expect(recorder.result('download-signed')).toBe('FAIL');
  });
});

describe('Function: verifyDownload (CloudFront)', () => {
  it('downloads through a signed CloudFront URL and sees an unsigned request refused with 403', async () => {
    const net = fakeNetwork();
    deps.fetch = net.fetch;

    const out = await verifyDownload(context(CLOUDFRONT), deps);

    expect(out).toEqual({ via: 'cloudfront', verified: [KEY], unsignedStatus: 403, propagating: false });
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

  /** The input of a VerifyDownload that has been answering "not yet" since `secondsAgo`. */
  const propagatingFor = (secondsAgo: number, attempt: number): Partial<StepInput> => ({
    verifyDownload: { via: 'cloudfront', verified: [], propagating: true, attempt, firstAttemptAt: new Date(NOW.getTime() - secondsAgo * 1000).toISOString(), waitSeconds: 300 },
  });

  it('answers "not yet" (no failure recorded) while a just-restricted behaviour still serves unsigned requests', async () => {
    deps.fetch = fakeNetwork({ enforceSigning: false }).fetch;

    const out = await verifyDownload(context(CLOUDFRONT), deps);

    expect(out).toMatchObject({ propagating: true, attempt: 1, firstAttemptAt: NOW.toISOString(), waitSeconds: 30 });
    expect(recorder.statuses).toEqual([]);
    expect(recorder.result('download-unsigned-refused')).toBeUndefined();
  });

  it('throws CloudFrontSigningNotEnforcedError when unsigned requests are still served after the propagation window', async () => {
    deps.fetch = fakeNetwork({ enforceSigning: false }).fetch;

    await expect(verifyDownload(context(CLOUDFRONT, propagatingFor(1200, 7)), deps)).rejects.toMatchObject({
      name: 'CloudFrontSigningNotEnforcedError',
      message: expect.stringContaining('8 attempts over 20 min'),
    });
    expect(recorder.result('download-signed')).toBe('PASS');
    expect(recorder.result('download-unsigned-refused')).toBe('FAIL');
    expect(recorder.statuses).toEqual([]);
  });

  it('reads "Unknown Key" on a signed URL as a key group still deploying: not yet, with backoff from 30 s', async () => {
    deps.fetch = fakeNetwork({ signedStatus: 403 }).fetch;

    const first = await verifyDownload(context(CLOUDFRONT), deps);
    const third = await verifyDownload(context(CLOUDFRONT, propagatingFor(90, 2)), deps);

    expect(first).toMatchObject({ propagating: true, attempt: 1, waitSeconds: 30, lastAnswer: expect.stringContaining('Unknown Key') });
    expect(first.nextCheckAt).toBe(new Date(NOW.getTime() + 30_000).toISOString());
    expect(third).toMatchObject({ propagating: true, attempt: 3, waitSeconds: 120, firstAttemptAt: new Date(NOW.getTime() - 90_000).toISOString() });
    expect(recorder.result('download-signed')).toBeUndefined();
  });

  it('fails with CloudFrontPropagationTimeoutError naming "Unknown Key" once the 20-minute window is over', async () => {
    deps.fetch = fakeNetwork({ signedStatus: 403 }).fetch;

    await expect(verifyDownload(context(CLOUDFRONT, propagatingFor(1200, 7)), deps)).rejects.toMatchObject({
      name: 'CloudFrontPropagationTimeoutError',
      message: expect.stringContaining('Unknown Key'),
    });
    expect(recorder.result('download-signed')).toBe('FAIL');
    expect(recorder.result('download-unsigned-refused')).toBe('SKIP');
  });

  it('never waits past the propagation window, and waits 30 s doubling up to 5 minutes', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => propagationWaitSeconds(a, 1200))).toEqual([30, 60, 120, 240, 300, 300]);
    expect(propagationWaitSeconds(7, 150)).toBe(150);
    expect(propagationWaitSeconds(7, 0.2)).toBe(1);
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
