/**
 * The signer's multipart calls as signed fetches (s3-multipart.ts): the requests it sends and how it reads
 * S3's XML answers. The same code runs against s3rver in test/integration/signing-s3.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransientError } from '#shared/errors';
import { s3ErrorOf, s3MultipartClient, xmlElement, xmlEscape, xmlText } from '#shared/s3-multipart';

const credentials = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token+/=' };

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

function fakeFetch(answer: (req: Sent) => { status: number; body?: string }) {
  const sent: Sent[] = [];
  const impl = (async (url: string, init: RequestInit) => {
    const req: Sent = { url, method: init.method!, headers: init.headers as Record<string, string>, body: init.body as string | undefined };
    sent.push(req);
    const a = answer(req);
    return new Response(a.status === 204 ? null : (a.body ?? ''), { status: a.status, headers: { 'x-amz-request-id': 'REQ1' } });
  }) as unknown as typeof fetch;
  return { sent, impl };
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

describe('Function: s3MultipartClient', () => {
  it('starts an upload with a header-signed POST ?uploads= to the bucket endpoint and reads the UploadId', async () => {
    const f = fakeFetch(() => ({
      status: 200,
      body: '<?xml version="1.0"?><InitiateMultipartUploadResult><Bucket>acme-fw</Bucket><Key>a b</Key><UploadId>u&amp;1</UploadId></InitiateMultipartUploadResult>',
    }));
    const out = await s3MultipartClient('eu-west-1', credentials, { fetch: f.impl }).createMultipartUpload({ Bucket: 'acme-fw', Key: 'dir/a b(1).bin' });
    expect(out).toEqual({ UploadId: 'u&1' });
    const req = f.sent[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('https://acme-fw.s3.eu-west-1.amazonaws.com/dir/a%20b%281%29.bin?uploads=');
    expect(req.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE\/\d{8}\/eu-west-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
    expect(req.headers['x-amz-security-token']).toBe('token+/=');
    expect(req.headers['x-amz-content-sha256']).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('completes with the parts as XML, escaped, and returns the ETag', async () => {
    const f = fakeFetch(() => ({ status: 200, body: '<CompleteMultipartUploadResult><ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>' }));
    const out = await s3MultipartClient('us-east-1', credentials, { fetch: f.impl }).completeMultipartUpload({
      Bucket: 'acme-fw',
      Key: 'k',
      UploadId: 'up/1',
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"a"' }, { PartNumber: 2, ETag: '"b&c"' }] },
    });
    expect(out).toEqual({ ETag: '"abc-2"' });
    expect(f.sent[0]!.url).toBe('https://acme-fw.s3.us-east-1.amazonaws.com/k?uploadId=up%2F1');
    expect(f.sent[0]!.body).toBe(
      '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>' +
        '<Part><PartNumber>2</PartNumber><ETag>&quot;b&amp;c&quot;</ETag></Part></CompleteMultipartUpload>',
    );
  });

  it('throws the error S3 embeds in a 200 answer to CompleteMultipartUpload', async () => {
    const f = fakeFetch(() => ({ status: 200, body: '\n  <Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>' }));
    const err = await s3MultipartClient('us-east-1', credentials, { fetch: f.impl })
      .completeMultipartUpload({ Bucket: 'b-1', Key: 'k', UploadId: 'u', MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"a"' }] } })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'InternalError', message: 'We encountered an internal error.', $metadata: { httpStatusCode: 200 } });
  });

  it('names S3 errors by their code with the HTTP status, as the SDK does', async () => {
    const f = fakeFetch(() => ({ status: 404, body: '<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>' }));
    const err = await s3MultipartClient('us-east-1', credentials, { fetch: f.impl })
      .abortMultipartUpload({ Bucket: 'b-1', Key: 'k', UploadId: 'u' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'NoSuchUpload', $metadata: { httpStatusCode: 404, requestId: 'REQ1' } });
    expect(f.sent[0]!.method).toBe('DELETE');
  });

  it('names a bodiless 403 AccessDenied', async () => {
    const f = fakeFetch(() => ({ status: 403 }));
    const err = await s3MultipartClient('us-east-1', credentials, { fetch: f.impl }).createMultipartUpload({ Bucket: 'b-1', Key: 'k' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
  });

  it('turns a network failure into TransientError', async () => {
    const impl = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
    }) as unknown as typeof fetch;
    const err = await s3MultipartClient('us-east-1', credentials, { fetch: impl }).createMultipartUpload({ Bucket: 'b-1', Key: 'k' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain('ECONNRESET');
  });

  it('addresses the local stack path-style through AWS_ENDPOINT_URL_S3', async () => {
    process.env.AWS_ENDPOINT_URL_S3 = 'http://127.0.0.1:4569';
    const f = fakeFetch(() => ({ status: 204 }));
    await s3MultipartClient('us-east-1', credentials, { fetch: f.impl }).abortMultipartUpload({ Bucket: 'b-1', Key: 'a//b', UploadId: 'u' });
    expect(f.sent[0]!.url).toBe('http://127.0.0.1:4569/b-1/a//b?uploadId=u');
  });
});

describe('Function: xml helpers', () => {
  it('decode named and numeric entities and escape the five specials', () => {
    expect(xmlText('&lt;a&gt; &amp; &quot;&apos; &#233; &#x1F600;')).toBe('<a> & "\' é 😀');
    expect(xmlEscape(`<"a'&b">`)).toBe('&lt;&quot;a&apos;&amp;b&quot;&gt;');
    expect(xmlElement('<A><B>x</B><B>y</B></A>', 'B')).toBe('x');
    expect(xmlElement('<A/>', 'B')).toBeUndefined();
    expect(s3ErrorOf('<Result/>', 200)).toBeUndefined();
  });
});
