/**
 * Wire-protocol plumbing shared by the local stand-ins: HTTP servers on 127.0.0.1, request bodies,
 * AWS errors, the XML of the Query protocol (IAM, STS), and SigV4 verification.
 *
 * SigV4 is verified for real (canonical request, string to sign, HMAC chain), so a client signing
 * with a wrong secret, a revoked key or an expired session is refused the way AWS refuses it.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

export const LOOPBACK = '127.0.0.1';

/** An error answered on the wire: `code` is what the SDK turns into the exception's name. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
    this.name = code;
  }
}

export function requestId(): string {
  return randomUUID();
}

export async function readBody(req: IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) throw new AwsError('RequestEntityTooLarge', 'Request body too large', 413);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** Starts `handler` on 127.0.0.1:`port` (0 = any free port). Resolves with the server and its port. */
export async function listen(
  port: number,
  handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('content-type', 'text/plain');
      }
      res.end(`local stack internal error: ${(err as Error)?.message ?? String(err)}`);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** Closes a server, dropping idle keep-alive connections so the close does not hang. */
export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections?.();
    setTimeout(() => server.closeAllConnections?.(), 200).unref();
  });
}

// ---------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------

export function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

export type XmlValue = string | number | boolean | Date | undefined | null | XmlValue[] | { [k: string]: XmlValue };

/** Renders nested objects as XML elements; arrays become `<member>` lists (Query protocol). */
export function toXml(value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (value instanceof Date) return isoSeconds(value);
  if (Array.isArray(value)) return value.map((v) => `<member>${toXml(v)}</member>`).join('');
  if (typeof value === 'object') {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `<${k}>${toXml(v)}</${k}>`)
      .join('');
  }
  return xmlEscape(String(value));
}

export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A Query-protocol (IAM, STS) success document. */
export function queryResponse(action: string, xmlns: string, result: XmlValue): string {
  const inner = result === undefined ? '' : `<${action}Result>${toXml(result)}</${action}Result>`;
  return (
    `<${action}Response xmlns="${xmlns}">${inner}` +
    `<ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></${action}Response>`
  );
}

/** A Query-protocol error document. */
export function queryError(xmlns: string, err: AwsError): string {
  const type = err.status >= 500 ? 'Receiver' : 'Sender';
  return (
    `<ErrorResponse xmlns="${xmlns}"><Error><Type>${type}</Type><Code>${xmlEscape(err.code)}</Code>` +
    `<Message>${xmlEscape(err.message)}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`
  );
}

export function send(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('x-amzn-requestid', requestId());
  res.end(body);
}

/** AWS JSON 1.0/1.1 error body: the SDK reads `__type`. */
export function sendJsonError(res: ServerResponse, err: AwsError, contentType: string): void {
  send(res, err.status, JSON.stringify({ __type: err.code, message: err.message, Message: err.message, ...err.extra }), {
    'content-type': contentType,
    'x-amzn-errortype': err.code,
  });
}

/** Query-protocol list helper: `Tags.member.1.Key` style params → array of objects. */
export function queryList(params: URLSearchParams, prefix: string): Record<string, string>[] {
  const out: Record<number, Record<string, string>> = {};
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.member\\.(\\d+)(?:\\.(.+))?$`);
  for (const [k, v] of params) {
    const m = re.exec(k);
    if (!m) continue;
    const i = Number(m[1]);
    out[i] ??= {};
    out[i]![m[2] ?? ''] = v;
  }
  return Object.keys(out)
    .map(Number)
    .sort((a, b) => a - b)
    .map((i) => out[i]!);
}

// ---------------------------------------------------------------------------------------------
// SigV4
// ---------------------------------------------------------------------------------------------

/** RFC 3986 encoding, as SigV4 wants it. */
export function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Raw query string → decoded pairs, in order. `+` is kept literally (SigV4 clients encode spaces as %20). */
export function parseRawQuery(raw: string): [string, string][] {
  if (!raw) return [];
  return raw
    .split('&')
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf('=');
      return i < 0 ? [safeDecode(p), ''] : [safeDecode(p.slice(0, i)), safeDecode(p.slice(i + 1))];
    });
}

export function splitUrl(url: string): { path: string; rawQuery: string } {
  const i = url.indexOf('?');
  return i < 0 ? { path: url, rawQuery: '' } : { path: url.slice(0, i), rawQuery: url.slice(i + 1) };
}

export interface SigV4Parts {
  mechanism: 'header' | 'query';
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  /** Presigned URLs only. */
  expiresSeconds?: number;
  sessionToken?: string;
}

/** Finds SigV4 authentication in the headers or the query; undefined when the request is unsigned. */
export function parseSigV4(headers: IncomingMessage['headers'], query: [string, string][]): SigV4Parts | undefined {
  const auth = headers.authorization;
  const q = new Map(query);
  if (typeof auth === 'string' && auth.length > 0) {
    const m = /^AWS4-HMAC-SHA256\s+(.*)$/i.exec(auth.trim());
    if (!m) throw new AwsError('InvalidArgument', 'Unsupported Authorization Type (only AWS4-HMAC-SHA256)', 400);
    const parts = new Map(
      m[1]!.split(',').map((c) => {
        const [k, ...v] = c.trim().split('=');
        return [k!, v.join('=')] as const;
      }),
    );
    const cred = (parts.get('Credential') ?? '').split('/');
    if (cred.length !== 5 || !parts.get('SignedHeaders') || !parts.get('Signature')) {
      throw new AwsError('IncompleteSignature', 'The authorization header is malformed', 400);
    }
    const token = headers['x-amz-security-token'];
    return {
      mechanism: 'header',
      accessKeyId: cred[0]!,
      date: cred[1]!,
      region: cred[2]!,
      service: cred[3]!,
      signedHeaders: parts.get('SignedHeaders')!.split(';'),
      signature: parts.get('Signature')!,
      amzDate: String(headers['x-amz-date'] ?? ''),
      sessionToken: typeof token === 'string' ? token : undefined,
    };
  }
  if (q.has('X-Amz-Algorithm')) {
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') {
      throw new AwsError('AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', 400);
    }
    const cred = (q.get('X-Amz-Credential') ?? '').split('/');
    if (cred.length !== 5 || !q.get('X-Amz-Signature') || !q.get('X-Amz-Date') || !q.get('X-Amz-SignedHeaders')) {
      throw new AwsError(
        'AuthorizationQueryParametersError',
        'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
        400,
      );
    }
    return {
      mechanism: 'query',
      accessKeyId: cred[0]!,
      date: cred[1]!,
      region: cred[2]!,
      service: cred[3]!,
      signedHeaders: q.get('X-Amz-SignedHeaders')!.split(';'),
      signature: q.get('X-Amz-Signature')!,
      amzDate: q.get('X-Amz-Date')!,
      expiresSeconds: Number(q.get('X-Amz-Expires') ?? '604800'),
      sessionToken: q.get('X-Amz-Security-Token'),
    };
  }
  return undefined;
}

/** `20261130T064120Z` → Date. */
export function parseAmzDate(s: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return new Date(Number.NaN);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

export interface VerifyInput {
  method: string;
  /** The path exactly as sent (percent-encoded). */
  rawPath: string;
  query: [string, string][];
  headers: IncomingMessage['headers'];
  /** sha256 hex of the body, for services that sign the payload (all but S3). */
  bodySha256?: string;
  /** S3 does not normalise or double-encode the path; every other service does. */
  s3: boolean;
}

/** Computes the SigV4 signature the request should carry for `secret`, and compares it. */
export function signatureMatches(input: VerifyInput, parts: SigV4Parts, secret: string): boolean {
  const canonicalUri = input.s3
    ? input.rawPath || '/'
    : normalisedDoubleEncodedPath(input.rawPath);
  const canonicalQuery = input.query
    .filter(([k]) => !(parts.mechanism === 'query' && k === 'X-Amz-Signature'))
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = parts.signedHeaders
    .map((h) => {
      const raw = input.headers[h];
      const v = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
      return `${h}:${String(v).trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const headerHash = input.headers['x-amz-content-sha256'];
  const payloadHash =
    parts.mechanism === 'query'
      ? typeof headerHash === 'string' && !input.s3
        ? headerHash
        : 'UNSIGNED-PAYLOAD'
      : typeof headerHash === 'string'
        ? headerHash
        : (input.bodySha256 ?? createHash('sha256').update('').digest('hex'));
  const canonicalRequest = [
    input.method,
    canonicalUri,
    canonicalQuery,
    canonicalHeaders,
    parts.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${parts.date}/${parts.region}/${parts.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', parts.amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${secret}`, parts.date);
  const kRegion = hmac(kDate, parts.region);
  const kService = hmac(kRegion, parts.service);
  const kSigning = hmac(kService, 'aws4_request');
  const expected = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
  const a = Buffer.from(expected);
  const b = Buffer.from(parts.signature);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** What smithy's SignatureV4 does for every service but S3: drop empty and `.` segments, then encode the (already encoded) path again. */
function normalisedDoubleEncodedPath(path: string): string {
  const segments: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') segments.pop();
    else segments.push(seg);
  }
  const normalised = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return rfc3986(normalised).replace(/%2F/g, '/') || '/';
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** A request whose body was already read, replayed for an in-process server that reads it as a stream. */
export function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const stream = Readable.from(body.length > 0 ? [body] : []) as Readable & Record<string, unknown>;
  Object.assign(stream, {
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
    connection: req.socket,
    complete: true,
    trailers: {},
    rawTrailers: [],
  });
  return stream as unknown as IncomingMessage;
}
