/**
 * VerifyUpload's and Cleanup's S3 calls as signed fetches (s3-objects.ts): the requests they send, how they
 * read S3's answers, the SDK's standard retry, and errors named exactly as an S3Client names them (compared
 * with a real S3Client fed the same answers). The same code runs against the local S3 stand-in in
 * test/integration/customer-buckets.test.ts.
 */
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CompleteMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { HttpResponse } from '@smithy/protocol-http';
import { TransientError, isTransientAwsError } from '#shared/errors';
import { s3ObjectsClient, type S3ObjectsApi } from '#shared/s3-objects';

const credentials = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token+/=' };

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
  redirect?: RequestInit['redirect'];
}
interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string | undefined>;
}

function fakeFetch(answer: (req: Sent, n: number) => Answer | Error) {
  const sent: Sent[] = [];
  const impl = (async (url: string, init: RequestInit) => {
    const req: Sent = { url, method: init.method!, headers: init.headers as Record<string, string>, body: init.body as Sent['body'], redirect: init.redirect };
    sent.push(req);
    const a = answer(req, sent.length);
    if (a instanceof Error) throw a;
    const nullBody = a.status === 204 || a.status === 304 || req.method === 'HEAD';
    return new Response(nullBody ? null : (a.body ?? ''), { status: a.status, headers: { 'x-amz-request-id': 'REQ1', ...(a.headers as Record<string, string>) } });
  }) as unknown as typeof fetch;
  return { sent, impl };
}

function client(f: { impl: typeof fetch }, sleeps: number[] = [], region = 'us-east-1'): S3ObjectsApi {
  return s3ObjectsClient(region, credentials, { fetch: f.impl, sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 });
}

let saved: string | undefined;
beforeEach(() => {
  saved = process.env.AWS_ENDPOINT_URL_S3;
  delete process.env.AWS_ENDPOINT_URL_S3;
});
afterEach(() => {
  if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
  else process.env.AWS_ENDPOINT_URL_S3 = saved;
});

describe('Function: s3ObjectsClient requests', () => {
  it('puts an object with Content-MD5 and Content-Type signed, the payload hash of the body, and reads ETag and VersionId', async () => {
    const f = fakeFetch(() => ({ status: 200, headers: { etag: '"e1"', 'x-amz-version-id': 'v-1' } }));
    const body = Buffer.from('hello');
    const out = await client(f).putObject({ Bucket: 'acme-fw', Key: 'fw/a b(1).bin', Body: body, ContentType: 'application/octet-stream', ContentMD5: 'XUFAKrxLKna5cZ2REBfFkg==' });
    expect(out).toEqual({ ETag: '"e1"', VersionId: 'v-1' });
    const req = f.sent[0]!;
    expect(req.method).toBe('PUT');
    expect(req.url).toBe('https://acme-fw.s3.us-east-1.amazonaws.com/fw/a%20b%281%29.bin');
    expect(req.headers['content-md5']).toBe('XUFAKrxLKna5cZ2REBfFkg==');
    expect(req.headers['x-amz-content-sha256']).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(req.headers.authorization).toMatch(/SignedHeaders=content-length;content-md5;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,/);
    expect(Buffer.from(req.body as Uint8Array).toString()).toBe('hello');
  });

  it('sends ExpectedBucketOwner as the signed x-amz-expected-bucket-owner header of a HEAD on the bucket', async () => {
    const f = fakeFetch(() => ({ status: 200, headers: { 'x-amz-bucket-region': 'us-east-1' } }));
    expect(await client(f).headBucket({ Bucket: 'acme-fw', ExpectedBucketOwner: '222222222222' })).toEqual({ BucketRegion: 'us-east-1' });
    expect(f.sent[0]).toMatchObject({ method: 'HEAD', url: 'https://acme-fw.s3.us-east-1.amazonaws.com/' });
    expect(f.sent[0]!.headers['x-amz-expected-bucket-owner']).toBe('222222222222');
    expect(f.sent[0]!.headers.authorization).toContain('x-amz-expected-bucket-owner');
    await client(f).headBucket({ Bucket: 'acme-fw' });
    expect(f.sent[1]!.headers['x-amz-expected-bucket-owner']).toBeUndefined();
  });

  it('runs a multipart upload: ?uploads, ?partNumber&uploadId with Content-MD5, Complete with the parts as XML and its VersionId', async () => {
    const f = fakeFetch((req) => {
      if (req.url.endsWith('?uploads=')) return { status: 200, body: '<InitiateMultipartUploadResult><UploadId>u&amp;1</UploadId></InitiateMultipartUploadResult>' };
      if (req.method === 'PUT') return { status: 200, headers: { etag: '"p1"' } };
      return { status: 200, body: '<CompleteMultipartUploadResult><ETag>&quot;c-1&quot;</ETag></CompleteMultipartUploadResult>', headers: { 'x-amz-version-id': 'v-2' } };
    });
    const s3 = client(f);
    const { UploadId } = await s3.createMultipartUpload({ Bucket: 'acme-fw', Key: 'k', ContentType: 'application/octet-stream' });
    expect(UploadId).toBe('u&1');
    expect((await s3.uploadPart({ Bucket: 'acme-fw', Key: 'k', UploadId: UploadId!, PartNumber: 1, Body: Buffer.from('x'), ContentMD5: 'md5' })).ETag).toBe('"p1"');
    const done = await s3.completeMultipartUpload({ Bucket: 'acme-fw', Key: 'k', UploadId: UploadId!, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"p1"' }] } });
    expect(done).toEqual({ ETag: '"c-1"', VersionId: 'v-2' });
    expect(f.sent.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST https://acme-fw.s3.us-east-1.amazonaws.com/k?uploads=',
      'PUT https://acme-fw.s3.us-east-1.amazonaws.com/k?partNumber=1&uploadId=u%261',
      'POST https://acme-fw.s3.us-east-1.amazonaws.com/k?uploadId=u%261',
    ]);
    expect(f.sent[0]!.headers['content-type']).toBe('application/octet-stream');
    expect(f.sent[1]!.headers['content-md5']).toBe('md5');
    expect(f.sent[2]!.body).toBe(
      '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>&quot;p1&quot;</ETag></Part></CompleteMultipartUpload>',
    );
  });

  it('lists objects and versions (delete markers apart), decoding keys', async () => {
    const f = fakeFetch((req) =>
      req.url.includes('versions=')
        ? {
            status: 200,
            body:
              '<ListVersionsResult><IsTruncated>false</IsTruncated><Version><Key>p/a&amp;b</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest></Version>' +
              '<DeleteMarker><Key>p/a&amp;b</Key><VersionId>m1</VersionId></DeleteMarker><Version><Key>p/c</Key><VersionId>null</VersionId></Version></ListVersionsResult>',
          }
        : { status: 200, body: '<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>p/a&amp;b</Key><Size>4</Size></Contents><Contents><Key>p/c</Key></Contents></ListBucketResult>' },
    );
    const s3 = client(f);
    expect(await s3.listObjectsV2({ Bucket: 'acme-fw', Prefix: 'p/', MaxKeys: 100 })).toEqual({ Contents: [{ Key: 'p/a&b' }, { Key: 'p/c' }], IsTruncated: false });
    expect(await s3.listObjectVersions({ Bucket: 'acme-fw', Prefix: 'p/', MaxKeys: 1000 })).toEqual({
      Versions: [
        { Key: 'p/a&b', VersionId: 'v1' },
        { Key: 'p/c', VersionId: 'null' },
      ],
      DeleteMarkers: [{ Key: 'p/a&b', VersionId: 'm1' }],
      IsTruncated: false,
    });
    expect(f.sent.map((s) => s.url)).toEqual([
      'https://acme-fw.s3.us-east-1.amazonaws.com/?list-type=2&prefix=p%2F&max-keys=100',
      'https://acme-fw.s3.us-east-1.amazonaws.com/?versions=&prefix=p%2F&max-keys=1000',
    ]);
    expect(await s3.listObjectsV2({ Bucket: 'acme-fw', Prefix: 'q/' }).then(() => f.sent.at(-1)!.url)).toBe('https://acme-fw.s3.us-east-1.amazonaws.com/?list-type=2&prefix=q%2F');
  });

  it('deletes a version by VersionId and reads whether a delete made a marker', async () => {
    const f = fakeFetch((req) => (req.url.includes('versionId=') ? { status: 204, headers: { 'x-amz-version-id': 'v 1' } } : { status: 204, headers: { 'x-amz-delete-marker': 'true', 'x-amz-version-id': 'm2' } }));
    const s3 = client(f);
    expect(await s3.deleteObject({ Bucket: 'acme-fw', Key: 'k', VersionId: 'v 1' })).toEqual({ DeleteMarker: undefined, VersionId: 'v 1' });
    expect(await s3.deleteObject({ Bucket: 'acme-fw', Key: 'k' })).toEqual({ DeleteMarker: true, VersionId: 'm2' });
    expect(f.sent.map((s) => `${s.method} ${s.url}`)).toEqual(['DELETE https://acme-fw.s3.us-east-1.amazonaws.com/k?versionId=v%201', 'DELETE https://acme-fw.s3.us-east-1.amazonaws.com/k']);
  });

  it('addresses the local stack path-style through AWS_ENDPOINT_URL_S3, bucket and object calls alike', async () => {
    process.env.AWS_ENDPOINT_URL_S3 = 'http://127.0.0.1:4569';
    const f = fakeFetch(() => ({ status: 200, body: '<ListBucketResult></ListBucketResult>' }));
    const s3 = client(f, [], 'eu-west-1');
    await s3.headBucket({ Bucket: 'b-1' });
    await s3.listObjectsV2({ Bucket: 'b-1', Prefix: 'a//b/' });
    await s3.putObject({ Bucket: 'b-1', Key: 'a//b/c', Body: Buffer.from('x') });
    expect(f.sent.map((s) => s.url)).toEqual(['http://127.0.0.1:4569/b-1/', 'http://127.0.0.1:4569/b-1/?list-type=2&prefix=a%2F%2Fb%2F', 'http://127.0.0.1:4569/b-1/a//b/c']);
    expect(f.sent[0]!.headers.authorization).toContain('/eu-west-1/s3/aws4_request');
  });
});

describe('Function: s3ObjectsClient errors', () => {
  it('names an XML error by its <Code> with its message, status, request id and headers', async () => {
    const message = 'User: arn:aws:sts::222222222222:assumed-role/R/s is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:eu-west-1:222222222222:key/k';
    const f = fakeFetch(() => ({ status: 403, body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${message}</Message><RequestId>R2</RequestId></Error>`, headers: { 'X-Amz-Id-2': 'id2' } }));
    const err = await client(f).putObject({ Bucket: 'b-1', Key: 'k', Body: Buffer.from('x') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AccessDenied', message, $fault: 'client', $metadata: { httpStatusCode: 403, requestId: 'REQ1' }, $response: { statusCode: 403 } });
    expect((err as { $response: { headers: Record<string, string> } }).$response.headers['x-amz-id-2']).toBe('id2');
    expect(f.sent).toHaveLength(1); // not retried
  });

  it('names bodiless HEAD answers by status as the SDK does: 404 NotFound, otherwise Unknown, with the region header', async () => {
    const answers: Answer[] = [{ status: 404 }, { status: 403 }, { status: 301, headers: { 'x-amz-bucket-region': 'eu-west-1' } }];
    const seen = [];
    let f301 = fakeFetch(() => answers[0]!);
    for (const a of answers) {
      f301 = fakeFetch(() => a);
      const err = (await client(f301).headBucket({ Bucket: 'b-1' }).catch((e: unknown) => e)) as { name: string; message: string; $metadata: { httpStatusCode: number }; $response: { headers: Record<string, string> } };
      seen.push([err.name, err.message, err.$metadata.httpStatusCode, err.$response.headers['x-amz-bucket-region']]);
    }
    // Never followed, as the SDK's node handler: a 301 is S3's answer to read, not a place to go.
    expect(f301.sent[0]!.redirect).toBe('manual');
    expect(seen).toEqual([
      ['NotFound', 'UnknownError', 404, undefined],
      ['Unknown', 'UnknownError', 403, undefined],
      ['Unknown', 'UnknownError', 301, 'eu-west-1'],
    ]);
  });

  it.each([
    ['HeadBucket 404', 'HEAD', { status: 404 }],
    ['HeadBucket 403', 'HEAD', { status: 403 }],
    ['HeadBucket 301', 'HEAD', { status: 301, headers: { 'x-amz-bucket-region': 'eu-west-1' } }],
    ['PutObject Object Lock', 'PUT', { status: 400, body: '<Error><Code>InvalidRequest</Code><Message>Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters</Message></Error>' }],
    ['PutObject NoSuchBucket', 'PUT', { status: 404, body: '<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>' }],
    ['ListObjectsV2 AccessDenied', 'LIST', { status: 403, body: '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>' }],
    ['DeleteObject bodiless 403', 'DELETE', { status: 403 }],
    ['CompleteMultipartUpload 200 with an error', 'COMPLETE', { status: 200, body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>' }],
  ] as const)('names %s exactly as an S3Client does', async (_case, op, answer: Answer) => {
    const ours = fakeFetch(() => answer);
    const s3 = s3ObjectsClient('us-east-1', credentials, { fetch: ours.impl, maxAttempts: 1 });
    const sdk = new S3Client({
      region: 'us-east-1',
      credentials,
      maxAttempts: 1,
      requestHandler: {
        handle: async () => ({
          response: new HttpResponse({ statusCode: answer.status, headers: { 'x-amz-request-id': 'REQ1', ...(answer.headers as Record<string, string>) }, body: Readable.from(answer.body ? [Buffer.from(answer.body)] : []) }),
        }),
      },
    });
    const input = { Bucket: 'b-1', Key: 'k' };
    const [mine, theirs] = await Promise.all(
      op === 'HEAD'
        ? [s3.headBucket({ Bucket: 'b-1' }), sdk.send(new HeadBucketCommand({ Bucket: 'b-1' }))].map((p) => p.catch((e: unknown) => e))
        : op === 'PUT'
          ? [s3.putObject({ ...input, Body: Buffer.from('x') }), sdk.send(new PutObjectCommand({ ...input, Body: Buffer.from('x') }))].map((p) => p.catch((e: unknown) => e))
          : op === 'LIST'
            ? [s3.listObjectsV2({ Bucket: 'b-1' }), sdk.send(new ListObjectsV2Command({ Bucket: 'b-1' }))].map((p) => p.catch((e: unknown) => e))
            : op === 'DELETE'
              ? [s3.deleteObject(input), sdk.send(new DeleteObjectCommand(input))].map((p) => p.catch((e: unknown) => e))
              : [
                  s3.completeMultipartUpload({ ...input, UploadId: 'u', MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"a"' }] } }),
                  sdk.send(new CompleteMultipartUploadCommand({ ...input, UploadId: 'u', MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"a"' }] } })),
                ].map((p) => p.catch((e: unknown) => e)),
    );
    const shape = (e: unknown) => {
      const x = e as { name: string; message: string; $fault: string; $metadata: { httpStatusCode: number }; $response?: { headers?: Record<string, string> } };
      return { name: x.name, message: x.message, fault: x.$fault, status: x.$metadata.httpStatusCode, region: x.$response?.headers?.['x-amz-bucket-region'], transient: isTransientAwsError(x) };
    };
    expect(mine).toBeInstanceOf(Error);
    expect(shape(mine)).toEqual(shape(theirs));
  });
});

describe('Function: s3ObjectsClient retries (the SDK standard mode)', () => {
  it('retries throttling with the 500 ms base and succeeds on the third attempt, re-signing each attempt', async () => {
    const f = fakeFetch((_req, n) => (n < 3 ? { status: 503, body: '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>' } : { status: 200, headers: { etag: '"e"' } }));
    const sleeps: number[] = [];
    expect(await client(f, sleeps).putObject({ Bucket: 'b-1', Key: 'k', Body: Buffer.from('x') })).toMatchObject({ ETag: '"e"' });
    expect(f.sent).toHaveLength(3);
    expect(sleeps).toEqual([250, 500]); // random 0.5 x 2^n x 500 ms
  });

  it('gives up after 3 attempts with the service error, which errors.ts reads as transient', async () => {
    const f = fakeFetch(() => ({ status: 500, body: '<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>' }));
    const sleeps: number[] = [];
    const err = await client(f, sleeps).listObjectsV2({ Bucket: 'b-1' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'InternalError', $metadata: { httpStatusCode: 500 } });
    expect(isTransientAwsError(err)).toBe(true);
    expect(f.sent).toHaveLength(3);
    expect(sleeps).toEqual([50, 100]); // random 0.5 x 2^n x 100 ms
  });

  it('retries a network failure and then throws TransientError naming it', async () => {
    const f = fakeFetch(() => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } }));
    const err = await client(f).deleteObject({ Bucket: 'b-1', Key: 'k' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain('ECONNRESET');
    expect(f.sent).toHaveLength(3);
  });

  it('retries a CompleteMultipartUpload that answered 200 with an error body, then succeeds', async () => {
    const f = fakeFetch((_req, n) => (n === 1 ? { status: 200, body: '<Error><Code>InternalError</Code><Message>x</Message></Error>' } : { status: 200, body: '<CompleteMultipartUploadResult><ETag>"c"</ETag></CompleteMultipartUploadResult>' }));
    const out = await client(f).completeMultipartUpload({ Bucket: 'b-1', Key: 'k', UploadId: 'u', MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"a"' }] } });
    expect(out.ETag).toBe('"c"');
    expect(f.sent).toHaveLength(2);
  });

  it('does not retry client errors', async () => {
    const f = fakeFetch(() => ({ status: 403 }));
    const err = await client(f).headBucket({ Bucket: 'b-1', ExpectedBucketOwner: '111111111111' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'Unknown', $metadata: { httpStatusCode: 403 } });
    expect(f.sent).toHaveLength(1);
  });
});
