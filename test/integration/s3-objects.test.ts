/**
 * s3-objects.ts (VerifyUpload's and Cleanup's signed-fetch S3 calls) against the local S3 stand-in, reached
 * only through AWS_ENDPOINT_URL_S3 from the env file, next to an SDK S3Client sending the same calls: the
 * answers S3 gives a wrong region, a wrong bucket owner and an Object Lock bucket come out with the same
 * names, statuses and headers; versioned buckets hand out VersionIds that delete exactly that version.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3ObjectsClient } from '#shared/s3-objects';
import type { LocalStack } from '../../local/stack';
import { failure, startTestStack, type EnvClients } from './local-stack-helpers';

let stack: LocalStack;
let c: EnvClients;
let savedEndpoint: string | undefined;

const md5 = (b: Buffer) => createHash('md5').update(b).digest('base64');

beforeAll(async () => {
  ({ stack, clients: c } = await startTestStack());
  savedEndpoint = process.env.AWS_ENDPOINT_URL_S3;
  process.env.AWS_ENDPOINT_URL_S3 = c.env.AWS_ENDPOINT_URL_S3;
  for (const bucket of ['so-plain', 'so-versioned', 'so-locked']) {
    await c.s3('eu-west-1', c.customer).send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  }
  stack.s3.configureBucket('so-versioned', { versioning: true });
  stack.s3.configureBucket('so-locked', { objectLockRetentionDays: 1 });
});
afterAll(async () => {
  if (savedEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
  else process.env.AWS_ENDPOINT_URL_S3 = savedEndpoint;
  await stack?.stop();
});

/** What VerifyUpload reads of a failed call, from ours (signed fetch) or the SDK's. */
async function seen(p: Promise<unknown>) {
  const f = await failure(p);
  const headers = Object.fromEntries(Object.entries(f.headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { name: f.name, status: f.status, region: headers['x-amz-bucket-region'], objectLock: /Object Lock/.test(f.message) };
}

describe('s3ObjectsClient through the local S3 stand-in', () => {
  it('wrong region: HeadBucket fails as the SDK names it (Unknown, 301) with the real region in x-amz-bucket-region', async () => {
    const ours = await seen(s3ObjectsClient('us-east-1', c.customer, { maxAttempts: 1 }).headBucket({ Bucket: 'so-plain' }));
    const sdk = await seen(c.s3('us-east-1', c.customer).send(new HeadBucketCommand({ Bucket: 'so-plain' })));
    expect(ours).toEqual(sdk);
    expect(ours).toMatchObject({ name: 'Unknown', status: 301, region: 'eu-west-1' });
  });

  it("wrong owner: HeadBucket with ExpectedBucketOwner fails with the SDK's 403", async () => {
    const ours = await seen(s3ObjectsClient('eu-west-1', c.customer, { maxAttempts: 1 }).headBucket({ Bucket: 'so-plain', ExpectedBucketOwner: '999999999999' }));
    const sdk = await seen(c.s3('eu-west-1', c.customer).send(new HeadBucketCommand({ Bucket: 'so-plain', ExpectedBucketOwner: '999999999999' })));
    expect(ours).toEqual(sdk);
    expect(ours.status).toBe(403);
    await expect(s3ObjectsClient('eu-west-1', c.customer).headBucket({ Bucket: 'so-plain', ExpectedBucketOwner: '222222222222' })).resolves.toMatchObject({ BucketRegion: 'eu-west-1' });
  });

  it('Object Lock: a PUT without a checksum is refused as InvalidRequest naming Object Lock, as the SDK sees it; with Content-MD5 it passes', async () => {
    const body = Buffer.from('locked canary');
    const ours = await seen(s3ObjectsClient('eu-west-1', c.customer).putObject({ Bucket: 'so-locked', Key: 'a.bin', Body: body }));
    const sdk = await seen(c.s3('eu-west-1', c.customer).send(new PutObjectCommand({ Bucket: 'so-locked', Key: 'a.bin', Body: body })));
    expect(ours).toEqual(sdk);
    expect(ours).toMatchObject({ name: 'InvalidRequest', status: 400, objectLock: true });
    const put = await s3ObjectsClient('eu-west-1', c.customer).putObject({ Bucket: 'so-locked', Key: 'a.bin', Body: body, ContentMD5: md5(body) });
    expect(put.VersionId).toEqual(expect.any(String));
  });

  it('versioned bucket: put and multipart hand out VersionIds; deleting by VersionId removes exactly those versions', async () => {
    const s3 = s3ObjectsClient('eu-west-1', c.customer);
    const prefix = 'fw/.peridio-verification/run 1+ü/';
    const single = Buffer.alloc(4096, 1);
    const put = await s3.putObject({ Bucket: 'so-versioned', Key: `${prefix}single-put.bin`, Body: single, ContentType: 'application/octet-stream', ContentMD5: md5(single) });
    const multi = Buffer.alloc(8192, 2);
    const { UploadId } = await s3.createMultipartUpload({ Bucket: 'so-versioned', Key: `${prefix}multipart.bin`, ContentType: 'application/octet-stream' });
    const part = await s3.uploadPart({ Bucket: 'so-versioned', Key: `${prefix}multipart.bin`, UploadId: UploadId!, PartNumber: 1, Body: multi, ContentMD5: md5(multi) });
    const done = await s3.completeMultipartUpload({ Bucket: 'so-versioned', Key: `${prefix}multipart.bin`, UploadId: UploadId!, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag! }] } });
    expect(put.VersionId).toEqual(expect.any(String));
    expect(done.VersionId).toEqual(expect.any(String));

    const listed = await s3.listObjectsV2({ Bucket: 'so-versioned', Prefix: prefix, MaxKeys: 100 });
    expect(listed.Contents?.map((o) => o.Key).sort()).toEqual([`${prefix}multipart.bin`, `${prefix}single-put.bin`]);
    const versions = await s3.listObjectVersions({ Bucket: 'so-versioned', Prefix: prefix, MaxKeys: 1000 });
    expect(versions.Versions?.map((v) => v.VersionId).sort()).toEqual([put.VersionId, done.VersionId].sort());

    // Without a VersionId: only a delete marker. With it: the version itself, then the marker.
    const marker = await s3.deleteObject({ Bucket: 'so-versioned', Key: `${prefix}single-put.bin` });
    expect(marker.DeleteMarker).toBe(true);
    await s3.deleteObject({ Bucket: 'so-versioned', Key: `${prefix}single-put.bin`, VersionId: put.VersionId });
    await s3.deleteObject({ Bucket: 'so-versioned', Key: `${prefix}single-put.bin`, VersionId: marker.VersionId });
    await s3.deleteObject({ Bucket: 'so-versioned', Key: `${prefix}multipart.bin`, VersionId: done.VersionId });
    expect(stack.s3.features.versionsOf('so-versioned', prefix)).toEqual([]);
  });

  it('names a missing bucket NoSuchBucket on an object call and NotFound on a HEAD, as the SDK does', async () => {
    const s3 = s3ObjectsClient('eu-west-1', c.customer, { maxAttempts: 1 });
    expect(await seen(s3.listObjectsV2({ Bucket: 'so-missing' }))).toMatchObject({ name: 'NoSuchBucket', status: 404 });
    expect(await seen(s3.headBucket({ Bucket: 'so-missing' }))).toEqual(await seen(c.s3('eu-west-1', c.customer).send(new HeadBucketCommand({ Bucket: 'so-missing' }))));
  });
});
