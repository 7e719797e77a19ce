/**
 * The S3 calls VerifyUpload and Cleanup make in the customer's bucket, as SigV4-signed `fetch` requests:
 * no S3Client (issue 12.9: @aws-sdk/client-s3 and the @smithy/core machinery behind it were ~250 KB of
 * those two bundles, which must stay under 400 KB). The signing core is s3-multipart.ts's `sendSignedS3`
 * (the signer's multipart calls); the endpoint comes from S3's own rule set (s3-endpoint.ts), so
 * AWS_ENDPOINT_URL_S3 reaches the local stand-in as it reaches every SDK client.
 *
 * The API mirrors the SDK's commands, with the SDK's input and output member names, so callers and their
 * tests read the same as with an S3Client (test/unit/helpers/sdk-s3-objects.ts adapts an S3Client to it,
 * so unit tests keep faking S3 with aws-sdk-client-mock).
 *
 * Errors come out as the SDK (3.1169, AwsRestXmlProtocol) names them, so errors.ts and the callers'
 * mapping see no difference:
 * - an answer with an `<Error>` document: `name` = its `<Code>` (`AccessDenied`, `InvalidRequest`,
 *   `NoSuchBucket`, ...), `message` = its `<Message>`;
 * - an answer without one (every HEAD: it has no body): `NotFound` for 404, else `Unknown`, with the message
 *   `UnknownError` (so a HEAD's 403 is `Unknown` with status 403, and a wrong region's 301 is `Unknown`
 *   with `x-amz-bucket-region` in the headers);
 * - `$metadata.httpStatusCode`, `$metadata.requestId`, `$fault`, and `$response.headers` (lower-cased, as the
 *   SDK's node handler gives them; canary.ts `responseHeaders` reads `x-amz-bucket-region` there).
 * - a 2xx answer whose body is an `<Error>` document (CompleteMultipartUpload can answer so: S3 API
 *   reference) is that error with status 503, and an empty answer to CompleteMultipartUpload is
 *   `InternalError`/503, as the SDK's throw200Exceptions middleware makes them (both retried).
 *
 * Retries are the SDK's standard mode: 3 attempts in all; throttling codes (`SlowDown`, ...) and 429 wait
 * random x 2^n x 500 ms, 500/502/503/504, `RequestTimeout`/`InternalError`-style transient answers, network
 * errors and timeouts wait random x 2^n x 100 ms (at most 20 s). After the last attempt a service error is
 * thrown as named (errors.ts `isTransientAwsError` makes throttling/5xx transient), a network error or
 * timeout as TransientError. Each attempt is bounded by `timeoutMs` (default 4 s, clients.ts HTTP_TIMEOUTS's
 * requestTimeout). Not done (unlike the SDK): no retry token bucket, no clock-skew correction (Lambda's clock
 * is NTP-synced), no response checksum validation (the SDK's WHEN_REQUIRED setting validates none here).
 */
import type { AwsCredentials } from './credential-broker';
import { backoffMs, retryClassOf, sleepReal, type RetryClass } from './aws-retry';
import { TransientError } from './errors';
import { S3ServiceError, sendSignedS3, xmlElement, xmlEscape, type S3HttpRequest, type S3HttpResponse } from './s3-multipart';
import { newS3Signer } from './url-signers';

/** The object and listing calls, with the SDK's input and output member names. */
export interface S3ObjectsApi {
  headBucket(input: { Bucket: string; ExpectedBucketOwner?: string }): Promise<{ BucketRegion?: string }>;
  putObject(input: {
    Bucket: string;
    Key: string;
    Body: Uint8Array;
    ContentType?: string;
    ContentMD5?: string;
    ExpectedBucketOwner?: string;
  }): Promise<{ ETag?: string; VersionId?: string }>;
  createMultipartUpload(input: { Bucket: string; Key: string; ContentType?: string; ExpectedBucketOwner?: string }): Promise<{ UploadId?: string }>;
  uploadPart(input: {
    Bucket: string;
    Key: string;
    UploadId: string;
    PartNumber: number;
    Body: Uint8Array;
    ContentMD5?: string;
    ExpectedBucketOwner?: string;
  }): Promise<{ ETag?: string }>;
  completeMultipartUpload(input: {
    Bucket: string;
    Key: string;
    UploadId: string;
    MultipartUpload: { Parts: { PartNumber: number; ETag: string }[] };
    ExpectedBucketOwner?: string;
  }): Promise<{ ETag?: string; VersionId?: string }>;
  abortMultipartUpload(input: { Bucket: string; Key: string; UploadId: string; ExpectedBucketOwner?: string }): Promise<void>;
  listObjectsV2(input: { Bucket: string; Prefix?: string; MaxKeys?: number; ExpectedBucketOwner?: string }): Promise<{
    Contents?: { Key?: string }[];
    IsTruncated?: boolean;
  }>;
  listObjectVersions(input: { Bucket: string; Prefix?: string; MaxKeys?: number; ExpectedBucketOwner?: string }): Promise<{
    Versions?: { Key?: string; VersionId?: string }[];
    DeleteMarkers?: { Key?: string; VersionId?: string }[];
    IsTruncated?: boolean;
  }>;
  deleteObject(input: { Bucket: string; Key: string; VersionId?: string; ExpectedBucketOwner?: string }): Promise<{
    DeleteMarker?: boolean;
    VersionId?: string;
  }>;
}

export interface S3ObjectsOptions {
  /** Default: global fetch. Tests inject a fake. */
  fetch?: typeof fetch;
  /** Waits between attempts. Default: a real timer. Tests inject one that records and returns at once. */
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): the backoff's jitter. Default Math.random. */
  random?: () => number;
  /** Per attempt. Default 4000 ms. */
  timeoutMs?: number;
  /** Attempts in all, the first included. Default 3 (the SDK's standard mode). */
  maxAttempts?: number;
}

/** The SDK-shaped error of a failed S3 answer: see the module comment. */
export class S3ObjectError extends S3ServiceError {
  readonly $fault: 'client' | 'server';
  readonly $response: { statusCode: number; headers: Record<string, string> };
  constructor(code: string, message: string, status: number, headers: Headers) {
    super(code, message, status, headers.get('x-amz-request-id') ?? undefined);
    this.$fault = status >= 500 ? 'server' : 'client';
    const plain: Record<string, string> = {};
    headers.forEach((value, name) => {
      plain[name.toLowerCase()] = value;
    });
    this.$response = { statusCode: status, headers: plain };
  }
}

/** The error the SDK throws for this answer (module comment): `<Code>` if S3 sent one, else by status. */
export function s3AnswerError(status: number, headers: Headers, text: string): S3ObjectError {
  if (/<Error>/.test(text)) {
    const code = xmlElement(text, 'Code') ?? 'Unknown';
    return new S3ObjectError(code, xmlElement(text, 'Message') ?? 'UnknownError', status, headers);
  }
  return new S3ObjectError(status === 404 ? 'NotFound' : 'Unknown', 'UnknownError', status, headers);
}

/** Every `<name>...</name>` block of a listing, as its inner XML. */
function blocks(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g'))].map((m) => m[1]!);
}

function ownerHeader(owner: string | undefined): Record<string, string> {
  return owner === undefined ? {} : { 'x-amz-expected-bucket-owner': owner };
}

/** An object API for one region and one set of (assumed-role) credentials. */
export function s3ObjectsClient(region: string, credentials: AwsCredentials, options: S3ObjectsOptions = {}): S3ObjectsApi {
  const signer = newS3Signer(credentials, region);
  const sleep = options.sleep ?? sleepReal;
  const random = options.random ?? Math.random;
  const timeoutMs = options.timeoutMs ?? 4_000;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);

  /**
   * Sends with the standard retry; resolves with a 2xx answer. As the SDK's throw200Exceptions middleware: a
   * 2xx whose body ends with `</Error>` is S3 failing after it started answering (CompleteMultipartUpload),
   * read as a 503; and `emptyIsError` (CompleteMultipartUpload) makes an empty 2xx body InternalError/503.
   */
  async function send(req: S3HttpRequest, emptyIsError = false): Promise<S3HttpResponse> {
    let last: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      let retry: RetryClass | undefined;
      try {
        // Signed per attempt, as the SDK does: a retry gets a fresh X-Amz-Date.
        const res = await sendSignedS3(signer, region, req, { fetch: options.fetch, timeoutMs });
        let status = res.status;
        if (status < 300 && res.text.trimEnd().endsWith('</Error>')) status = 503;
        if (status < 300 && emptyIsError && res.text.length === 0) {
          throw new S3ObjectError('InternalError', 'S3 aborted request', 503, res.headers);
        }
        if (status < 300) return res;
        const error = s3AnswerError(status, res.headers, res.text);
        last = error;
        retry = retryClassOf(error.name, status);
      } catch (err) {
        const noAnswer = err instanceof TransientError;
        if (!noAnswer && !(err instanceof S3ObjectError)) throw err;
        last = err; // no answer (connection refused/reset, DNS, the attempt's timeout), or an aborted answer
        retry = 'transient';
      }
      if (!retry || attempt === maxAttempts) break;
      await sleep(backoffMs(attempt, retry, random));
    }
    throw last;
  }

  const header = (res: S3HttpResponse, name: string) => res.headers.get(name) ?? undefined;

  return {
    async headBucket(input) {
      const res = await send({ method: 'HEAD', bucket: input.Bucket, headers: ownerHeader(input.ExpectedBucketOwner) });
      return { BucketRegion: header(res, 'x-amz-bucket-region') };
    },
    async putObject(input) {
      const headers: Record<string, string> = { ...ownerHeader(input.ExpectedBucketOwner) };
      if (input.ContentType) headers['content-type'] = input.ContentType;
      if (input.ContentMD5) headers['content-md5'] = input.ContentMD5;
      const res = await send({ method: 'PUT', bucket: input.Bucket, key: input.Key, headers, body: input.Body });
      return { ETag: header(res, 'etag'), VersionId: header(res, 'x-amz-version-id') };
    },
    async createMultipartUpload(input) {
      const headers: Record<string, string> = { ...ownerHeader(input.ExpectedBucketOwner) };
      if (input.ContentType) headers['content-type'] = input.ContentType;
      const res = await send({ method: 'POST', bucket: input.Bucket, key: input.Key, query: { uploads: '' }, headers });
      return { UploadId: xmlElement(res.text, 'UploadId') };
    },
    async uploadPart(input) {
      const headers: Record<string, string> = { ...ownerHeader(input.ExpectedBucketOwner) };
      if (input.ContentMD5) headers['content-md5'] = input.ContentMD5;
      const query = { partNumber: String(input.PartNumber), uploadId: input.UploadId };
      const res = await send({ method: 'PUT', bucket: input.Bucket, key: input.Key, query, headers, body: input.Body });
      return { ETag: header(res, 'etag') };
    },
    async completeMultipartUpload(input) {
      const parts = input.MultipartUpload.Parts.map(
        (p) => `<Part><PartNumber>${p.PartNumber}</PartNumber><ETag>${xmlEscape(p.ETag)}</ETag></Part>`,
      ).join('');
      const body = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts}</CompleteMultipartUpload>`;
      const headers = { 'content-type': 'application/xml', ...ownerHeader(input.ExpectedBucketOwner) };
      const res = await send({ method: 'POST', bucket: input.Bucket, key: input.Key, query: { uploadId: input.UploadId }, headers, body }, true);
      return { ETag: xmlElement(res.text, 'ETag'), VersionId: header(res, 'x-amz-version-id') };
    },
    async abortMultipartUpload(input) {
      await send({ method: 'DELETE', bucket: input.Bucket, key: input.Key, query: { uploadId: input.UploadId }, headers: ownerHeader(input.ExpectedBucketOwner) });
    },
    async listObjectsV2(input) {
      const query: Record<string, string> = { 'list-type': '2' };
      if (input.Prefix !== undefined) query.prefix = input.Prefix;
      if (input.MaxKeys !== undefined) query['max-keys'] = String(input.MaxKeys);
      const res = await send({ method: 'GET', bucket: input.Bucket, query, headers: ownerHeader(input.ExpectedBucketOwner) });
      const contents = blocks(res.text, 'Contents').map((c) => ({ Key: xmlElement(c, 'Key') }));
      return { Contents: contents, IsTruncated: xmlElement(res.text, 'IsTruncated') === 'true' };
    },
    async listObjectVersions(input) {
      const query: Record<string, string> = { versions: '' };
      if (input.Prefix !== undefined) query.prefix = input.Prefix;
      if (input.MaxKeys !== undefined) query['max-keys'] = String(input.MaxKeys);
      const res = await send({ method: 'GET', bucket: input.Bucket, query, headers: ownerHeader(input.ExpectedBucketOwner) });
      const entries = (name: string) => blocks(res.text, name).map((v) => ({ Key: xmlElement(v, 'Key'), VersionId: xmlElement(v, 'VersionId') }));
      return { Versions: entries('Version'), DeleteMarkers: entries('DeleteMarker'), IsTruncated: xmlElement(res.text, 'IsTruncated') === 'true' };
    },
    async deleteObject(input) {
      const query: Record<string, string> = input.VersionId === undefined ? {} : { versionId: input.VersionId };
      const res = await send({ method: 'DELETE', bucket: input.Bucket, key: input.Key, query, headers: ownerHeader(input.ExpectedBucketOwner) });
      const marker = header(res, 'x-amz-delete-marker');
      return { DeleteMarker: marker === undefined ? undefined : marker === 'true', VersionId: header(res, 'x-amz-version-id') };
    },
  };
}

