import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { sdkS3Objects } from './helpers/sdk-s3-objects';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { AssumeRoleDeniedError } from '#shared/errors';
import { createHandler } from '../../functions/onboarding/verify-upload/handler';
import { verifyUpload, type VerifyUploadDeps } from '../../functions/onboarding/verify-upload/verify-upload';
import { CANARY_PREFIX as PREFIX, FakeRecorder, NOW, stepInput } from './helpers/verify-fixtures';

const s3 = mockClient(S3Client);
afterAll(() => s3.restore());


function s3Error(name: string, status: number, extra: { message?: string; headers?: Record<string, string> } = {}) {
  const err = new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: extra.message ?? name });
  return Object.assign(err, { $response: { statusCode: status, headers: extra.headers ?? {} } });
}

let recorder: FakeRecorder;
let deps: VerifyUploadDeps;
let chains: unknown[];

beforeEach(() => {
  s3.reset();
  recorder = new FakeRecorder();
  chains = [];
  deps = {
    customerCredentials: async (chain) => {
      chains.push(chain);
      return { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'example-secret', sessionToken: 'token', expiration: new Date(NOW.getTime() + 3600_000) };
    },
    s3: (region, credentials) => sdkS3Objects(new S3Client({ region, credentials })),
    clock: () => NOW,
    records: recorder,
    randomBytes: (n) => Buffer.alloc(n, 7),
  };
  s3.on(HeadBucketCommand).resolves({});
  s3.on(PutObjectCommand).resolves({ ETag: '"a"' });
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
  s3.on(UploadPartCommand).resolves({ ETag: '"p1"' });
  s3.on(CompleteMultipartUploadCommand).resolves({});
  s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: `${PREFIX}single-put.bin` }, { Key: `${PREFIX}multipart.bin` }] });
});

describe('Function: verifyUpload', () => {
  it('passes every check and returns both canaries with their digests', async () => {
    // Act
    const out = await verifyUpload(stepInput(), deps);

    // Assess
    expect(out.canaryKeys).toEqual([`${PREFIX}single-put.bin`, `${PREFIX}multipart.bin`]);
    expect(out.canaries.map((c) => c.bytes)).toEqual([4096, 8192]);
    expect(out.canaries[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(recorder.checks.map((c) => [c.name, c.result])).toEqual([
      ['bucket-region', 'PASS'],
      ['bucket-owner', 'PASS'],
      ['canary-put', 'PASS'],
      ['canary-multipart', 'PASS'],
      ['canary-list', 'PASS'],
    ]);
    expect(chains[0]).toMatchObject({ externalId: '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a', customerRoleArn: 'arn:aws:iam::222222222222:role/PeridioBinaries' });
  });

  it('checks the region without ExpectedBucketOwner, then the owner with it', async () => {
    await verifyUpload(stepInput(), deps);

    const heads = s3.commandCalls(HeadBucketCommand).map((c) => c.args[0].input);
    expect(heads).toEqual([{ Bucket: 'acme-firmware' }, { Bucket: 'acme-firmware', ExpectedBucketOwner: '222222222222' }]);
  });

  it('completes the multipart canary and never aborts it on success', async () => {
    await verifyUpload(stepInput(), deps);

    expect(s3).toHaveReceivedCommandWith(CompleteMultipartUploadCommand, {
      Key: `${PREFIX}multipart.bin`,
      UploadId: 'upload-1',
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"p1"' }] },
    });
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, { Prefix: PREFIX });
  });

  it('throws BucketWrongRegionError naming the real region when HeadBucket answers 301 Unknown', async () => {
    s3.on(HeadBucketCommand).rejects(s3Error('Unknown', 301, { headers: { 'x-amz-bucket-region': 'eu-west-1' } }));

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'BucketWrongRegionError', message: expect.stringContaining('eu-west-1') });
    expect(recorder.result('bucket-region')).toBe('FAIL');
    expect(recorder.checks.find((c) => c.name === 'bucket-region')!.fix).toContain('eu-west-1');
    expect(recorder.result('canary-put')).toBe('SKIP');
    expect(s3).not.toHaveReceivedCommand(PutObjectCommand);
  });

  it('reads the region from a 400 AuthorizationHeaderMalformed too (opt-in regions answer that way)', async () => {
    s3.on(HeadBucketCommand).rejects(s3Error('AuthorizationHeaderMalformed', 400, { headers: { 'x-amz-bucket-region': 'me-south-1' } }));

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'BucketWrongRegionError', message: expect.stringContaining('me-south-1') });
  });

  it('still names a wrong region when a 301 carries no region header', async () => {
    s3.on(HeadBucketCommand).rejects(s3Error('Unknown', 301));

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'BucketWrongRegionError', message: expect.stringContaining('us-east-1') });
  });

  it('throws BucketNotFoundError when HeadBucket answers 404', async () => {
    s3.on(HeadBucketCommand).rejects(s3Error('NotFound', 404));

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'BucketNotFoundError' });
    expect(recorder.result('bucket-region')).toBe('FAIL');
  });

  it('throws BucketOwnerMismatchError when HeadBucket with ExpectedBucketOwner answers 403', async () => {
    s3.on(HeadBucketCommand, { Bucket: 'acme-firmware', ExpectedBucketOwner: '222222222222' }).rejects(s3Error('Forbidden', 403));

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'BucketOwnerMismatchError', message: expect.stringContaining('222222222222') });
    expect(recorder.result('bucket-region')).toBe('PASS');
    expect(recorder.result('bucket-owner')).toBe('FAIL');
  });

  it('throws StoragePermissionError naming s3:ListBucket when the first HeadBucket is denied', async () => {
    s3.on(HeadBucketCommand).rejects(s3Error('Forbidden', 403));

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'StoragePermissionError', message: expect.stringContaining('s3:ListBucket') });
  });

  it('throws StoragePermissionError naming s3:PutObject when the canary put is denied', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403, { message: 'Access Denied' }));

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'StoragePermissionError', message: expect.stringContaining('s3:PutObject') });
    expect(recorder.result('canary-put')).toBe('FAIL');
    expect(recorder.result('canary-multipart')).toBe('SKIP');
  });

  it('names the KMS permission when an SSE-KMS bucket denies the put', async () => {
    s3.on(PutObjectCommand).rejects(
      s3Error('AccessDenied', 403, { message: 'User: arn:aws:sts::222222222222:assumed-role/x/y is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:us-east-1:222222222222:key/k' }),
    );

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({
      name: 'KmsPermissionError',
      message: expect.stringMatching(/kms:GenerateDataKey.*arn:aws:kms:us-east-1:222222222222:key\/k/),
    });
    expect(recorder.result('canary-put')).toBe('FAIL');
  });

  it('names Object Lock, not a permission, when S3 refuses the write for Object Lock', async () => {
    s3.on(PutObjectCommand).rejects(
      s3Error('InvalidRequest', 400, { message: 'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters' }),
    );

    const err = await verifyUpload(stepInput(), deps).catch((e: unknown) => e);

    expect(err).toMatchObject({ name: 'BucketObjectLockError', message: expect.stringContaining('Object Lock') });
    expect((err as Error).message).not.toContain('s3:PutObject');
  });

  it('sends Content-MD5 with every canary write (Object Lock buckets require a checksum)', async () => {
    await verifyUpload(stepInput(), deps);

    const md5 = (n: number) => createHash('md5').update(Buffer.alloc(n, 7)).digest('base64');
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { ContentMD5: md5(4096) });
    expect(s3).toHaveReceivedCommandWith(UploadPartCommand, { ContentMD5: md5(8192) });
  });

  it('returns the version S3 gave each canary on a versioned bucket, for Cleanup', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"a"', VersionId: 'v-single' });
    s3.on(CompleteMultipartUploadCommand).resolves({ VersionId: 'v-multi' });

    const out = await verifyUpload(stepInput(), deps);

    expect(out.canaries.map((c) => c.versionId)).toEqual(['v-single', 'v-multi']);
  });

  it('throws StoragePermissionError naming s3:ListBucket when listing the canaries is denied', async () => {
    s3.on(ListObjectsV2Command).rejects(s3Error('AccessDenied', 403));

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'StoragePermissionError', message: expect.stringContaining('s3:ListBucket') });
    expect(recorder.result('canary-multipart')).toBe('PASS');
    expect(recorder.result('canary-list')).toBe('FAIL');
  });

  it('fails the list check when the listing does not show the canaries', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [] });

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'StoragePermissionError' });
    expect(recorder.result('canary-list')).toBe('FAIL');
  });

  it('retries a failed part once and completes the upload instead of aborting', async () => {
    s3.on(UploadPartCommand).rejectsOnce(s3Error('RequestTimeout', 400)).resolves({ ETag: '"p1"' });

    await verifyUpload(stepInput(), deps);

    expect(s3).toHaveReceivedCommandTimes(UploadPartCommand, 2);
    expect(s3).toHaveReceivedCommand(CompleteMultipartUploadCommand);
    expect(s3).not.toHaveReceivedCommand(AbortMultipartUploadCommand);
  });

  it('tries an abort only as a last resort when no part can be uploaded, and reports the permission', async () => {
    s3.on(UploadPartCommand).rejects(s3Error('AccessDenied', 403));
    s3.on(AbortMultipartUploadCommand).rejects(s3Error('AccessDenied', 403));

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'StoragePermissionError', message: expect.stringContaining('UploadPart') });
    expect(s3).not.toHaveReceivedCommand(CompleteMultipartUploadCommand);
    expect(recorder.result('canary-multipart')).toBe('FAIL');
  });

  it('throws TransientError on throttling and records no failed check', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('SlowDown', 503));

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'TransientError' });
    expect(recorder.checks.filter((c) => c.result === 'FAIL')).toEqual([]);
  });

  it('records the denial and rethrows AssumeRoleDeniedError when the customer withdrew trust', async () => {
    deps.customerCredentials = async () => {
      throw new AssumeRoleDeniedError('AssumeRole denied on the customer role', 'customer');
    };

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'AssumeRoleDeniedError' });
    expect(recorder.result('customer-role')).toBe('FAIL');
    expect(s3).not.toHaveReceivedCommand(HeadBucketCommand);
  });

  it('keeps the verification error when recording the checks fails too', async () => {
    s3.on(HeadBucketCommand).rejects(s3Error('NotFound', 404));
    recorder.recordChecks = async () => {
      throw new Error('dynamo down');
    };

    await expect(verifyUpload(stepInput(), deps)).rejects.toMatchObject({ name: 'BucketNotFoundError' });
  });
});

describe('Handler: verify-upload', () => {
  it('refuses bad input with a ValidationError naming the field, before any AWS call', async () => {
    const handler = createHandler(deps);
    const bad = { ...stepInput(), upload: { ...stepInput().upload, accountId: 'not-an-account' } };

    await expect(handler(bad, {} as never)).rejects.toMatchObject({ name: 'ValidationError', message: expect.stringContaining('upload.accountId') });
    expect(s3).not.toHaveReceivedCommand(HeadBucketCommand);
  });

  it('runs the domain function on a valid context', async () => {
    const handler = createHandler(deps);

    const out = await handler(stepInput(), {} as never);

    expect(out.canaryKeys).toHaveLength(2);
  });
});
