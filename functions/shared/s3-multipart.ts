/**
 * The three multipart calls the signer makes itself (CreateMultipartUpload, CompleteMultipartUpload,
 * AbortMultipartUpload), as SigV4-signed requests sent with node's fetch: no S3Client.
 *
 * Why: @aws-sdk/client-s3 and the @smithy/core machinery it brings were most of the signer's bundle and
 * cold start, for three rare calls. The signer already signs with @smithy/signature-v4; here it signs
 * headers instead of the query, the endpoint comes from S3's own rule set (s3-endpoint.ts, so
 * AWS_ENDPOINT_URL_S3 reaches the local stack as it reaches every SDK client), and S3's small XML answers
 * are read by hand.
 *
 * Errors keep the SDK's shape where callers look: `name` is S3's `<Code>` (`NoSuchUpload`, `AccessDenied`,
 * `EntityTooSmall`, ...) and `$metadata.httpStatusCode` the status, so errors.ts's `awsErrorName` and
 * `httpStatus` read them unchanged. Network failures and timeouts become TransientError.
 *
 * AWS surprise, handled: CompleteMultipartUpload can answer 200 OK and still fail, with an `<Error>`
 * document as the body (S3 API reference, CompleteMultipartUpload); the body is checked, not only the status.
 */
import { createHash } from 'node:crypto';
import { HttpRequest } from '@smithy/protocol-http';
import type { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentials } from './credential-broker';
import { TransientError } from './errors';
import { resolveS3Endpoint } from './s3-endpoint';
import { newS3Signer, rfc3986Encode, s3KeyPath } from './url-signers';

/** The calls, with the SDK's input and output member names (so callers and tests read the same). */
export interface S3MultipartApi {
  createMultipartUpload(input: { Bucket: string; Key: string }): Promise<{ UploadId?: string }>;
  completeMultipartUpload(input: {
    Bucket: string;
    Key: string;
    UploadId: string;
    MultipartUpload: { Parts: { PartNumber: number; ETag: string }[] };
  }): Promise<{ ETag?: string }>;
  abortMultipartUpload(input: { Bucket: string; Key: string; UploadId: string }): Promise<void>;
}

/** An error S3 answered, in the SDK's shape: `name` = S3's error code, `$metadata.httpStatusCode`. */
export class S3ServiceError extends Error {
  readonly $metadata: { httpStatusCode: number; requestId?: string };
  constructor(code: string, message: string, status: number, requestId?: string) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status, requestId };
  }
}

export interface S3MultipartOptions {
  /** Default: global fetch. Tests inject a fake. */
  fetch?: typeof fetch;
  /** Per-request timeout. Default 30 s (CompleteMultipartUpload of many parts can take several seconds). */
  timeoutMs?: number;
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes XML character data: the five named entities and numeric references. */
export function xmlText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return XML_ENTITIES[ref] ?? whole;
  });
}

/** Encodes text for an XML element. */
export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

/** The text of the first `<name>` element in an S3 answer (which has no attributes on these elements), decoded. */
export function xmlElement(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? xmlText(m[1]!) : undefined;
}

/** The `<Error>` document S3 answers with, if `body` is one. */
export function s3ErrorOf(body: string, status: number, requestId?: string): S3ServiceError | undefined {
  if (!/<Error>/.test(body)) return undefined;
  const code = xmlElement(body, 'Code') ?? 'Unknown';
  return new S3ServiceError(code, xmlElement(body, 'Message') ?? code, status, requestId);
}

/** One S3 request: `key` undefined addresses the bucket itself (HeadBucket, the listings). */
export interface S3HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  bucket: string;
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

/** S3's answer, whatever its status. */
export interface S3HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * The signing core shared with s3-objects.ts: signs `req` with SigV4 in headers (payload hash in
 * `x-amz-content-sha256`, as S3 wants), sends it once to the bucket's endpoint (s3-endpoint.ts) and returns
 * the answer whatever its status. A network failure or the timeout throws TransientError; interpreting
 * statuses and retrying is the caller's.
 */
export async function sendSignedS3(
  signer: SignatureV4,
  region: string,
  req: S3HttpRequest,
  options: { fetch?: typeof fetch; timeoutMs: number },
): Promise<S3HttpResponse> {
  const doFetch = options.fetch ?? fetch;
  const endpoint = resolveS3Endpoint(req.bucket, region);
  const host = endpoint.port === undefined ? endpoint.hostname : `${endpoint.hostname}:${endpoint.port}`;
  const body = req.body === undefined || req.body.length === 0 ? undefined : req.body;
  const query = req.query ?? {};
  const headers: Record<string, string> = {
    ...req.headers,
    host,
    'x-amz-content-sha256': createHash('sha256').update(body ?? '').digest('hex'),
  };
  if (body !== undefined) headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  const request = new HttpRequest({
    method: req.method,
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    port: endpoint.port,
    path: `${endpoint.basePath}/${req.key === undefined ? '' : s3KeyPath(req.key)}`,
    query,
    headers,
    body,
  });
  const signed = await signer.sign(request);
  const qs = Object.keys(query)
    .map((k) => `${rfc3986Encode(k)}=${rfc3986Encode(query[k]!)}`)
    .join('&');
  const url = `${endpoint.protocol}//${host}${signed.path}${qs ? `?${qs}` : ''}`;
  const sentHeaders = { ...(signed.headers as Record<string, string>) };
  delete sentHeaders.host; // fetch sets Host from the URL (the same value)
  delete sentHeaders['content-length']; // and Content-Length from the body (the same value)
  let res: Response;
  let text: string;
  try {
    // redirect: 'manual', as the SDK's node handler: S3's 301/307 answers (wrong region, a new bucket's DNS) are
    // answers to read, and a followed redirect would carry this signature to another host.
    res = await doFetch(url, { method: req.method, headers: sentHeaders, body, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs) });
    text = await res.text();
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string } };
    const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? `timed out after ${options.timeoutMs} ms` : (e.cause?.code ?? e.name ?? 'fetch failed');
    throw new TransientError(`S3 ${req.method} ${req.bucket}: no answer (${why})`, { cause: err });
  }
  return { status: res.status, headers: res.headers, text };
}

/** A multipart API for one region and one set of credentials. */
export function s3MultipartClient(region: string, credentials: AwsCredentials, options: S3MultipartOptions = {}): S3MultipartApi {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const signer = newS3Signer(credentials, region);

  async function send(
    method: 'POST' | 'DELETE',
    bucket: string,
    key: string,
    query: Record<string, string>,
    body = '',
  ): Promise<{ status: number; text: string }> {
    const res = await sendSignedS3(
      signer,
      region,
      { method, bucket, key, query, headers: body ? { 'content-type': 'application/xml' } : {}, body },
      { fetch: options.fetch, timeoutMs },
    );
    const { status, text } = res;
    const requestId = res.headers.get('x-amz-request-id') ?? undefined;
    if (status >= 300) {
      // HEAD-less calls normally carry an <Error> body; a bare status (e.g. a proxy's) still gets a name.
      throw s3ErrorOf(text, status, requestId) ?? new S3ServiceError(status === 403 ? 'AccessDenied' : 'Unknown', `HTTP ${status}`, status, requestId);
    }
    return { status, text };
  }

  return {
    async createMultipartUpload(input) {
      const { text, status } = await send('POST', input.Bucket, input.Key, { uploads: '' });
      const error = s3ErrorOf(text, status);
      if (error) throw error;
      return { UploadId: xmlElement(text, 'UploadId') };
    },
    async completeMultipartUpload(input) {
      const parts = input.MultipartUpload.Parts.map(
        (p) => `<Part><PartNumber>${p.PartNumber}</PartNumber><ETag>${xmlEscape(p.ETag)}</ETag></Part>`,
      ).join('');
      const body = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts}</CompleteMultipartUpload>`;
      const { text, status } = await send('POST', input.Bucket, input.Key, { uploadId: input.UploadId }, body);
      const error = s3ErrorOf(text, status);
      if (error) throw error;
      return { ETag: xmlElement(text, 'ETag') };
    },
    async abortMultipartUpload(input) {
      await send('DELETE', input.Bucket, input.Key, { uploadId: input.UploadId });
    },
  };
}
