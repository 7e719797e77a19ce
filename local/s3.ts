/**
 * S3: @20minutes/s3rver (in-process, no socket of its own) behind a thin front that closes its gaps:
 *
 * - every request must be SigV4-signed (header or presigned query); unsigned → 403 AccessDenied;
 * - the front verifies the signature itself (it needs the caller, the signing region and the bucket
 *   path with its trailing slash, which s3rver drops: its bucket-level signature check is skipped for
 *   requests the front verified), and object-level requests are verified again by s3rver;
 * - each bucket has a region and an owner account: `x-amz-bucket-region` on every answer about an
 *   existing bucket, 301 PermanentRedirect when signed for another region, 403 when
 *   `x-amz-expected-bucket-owner` names another account;
 * - CreateBucket (with LocationConstraint), ListBuckets (the caller's own), GetBucketLocation,
 *   AbortMultipartUpload (s3rver answers 405) and NoSuchUpload for parts of an aborted upload.
 *
 * Versioning, Object Lock default retention and SSE-KMS keys are opt-in per bucket (`configureBucket`,
 * s3-bucket-features.ts).
 *
 * Not modelled: IAM permission policies and bucket policies (any validly signed request by any
 * account is served; only ExpectedBucketOwner separates accounts), checksums trailers.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { AwsError, parseRawQuery, readBody, replay, splitUrl, xmlEscape, requestId, isoSeconds } from './aws-protocol';
import { authenticate, S3_AUTH_ERRORS, type Credential, type KeyRegistry } from './identity';
import { bucketProblem } from '#shared/validation';
import { BucketFeatures, type BucketFeatureOptions } from './s3-bucket-features';
import { installKeyShapeStore, type KeyShapeStore } from './s3-key-store';

const require = createRequire(import.meta.url);

export interface BucketInfo {
  name: string;
  region: string;
  ownerAccountId: string;
  createdAt: Date;
}

interface S3rverAccount {
  createKeyPair(id: string, secret: string): void;
  revokeAccessKey(id: string): void;
}
interface S3rverStore {
  putBucket(name: string): Promise<unknown>;
  getBucket(name: string): Promise<unknown>;
  getObject(bucket: string, key: string, options?: unknown): Promise<S3rverObject | null>;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
}
export interface S3rverObject {
  content: NodeJS.ReadableStream | null;
  size: number;
  metadata: Record<string, string>;
  lastModifiedDate: Date;
}

const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** s3rver's store listing, for ListObjectVersions of an unversioned bucket. */
interface StoreListing {
  listObjects(bucket: string, options: { prefix: string; maxKeys: number }): Promise<{ objects: { key: string; size: number; lastModifiedDate: Date }[] }>;
}

export class LocalS3 {
  readonly buckets = new Map<string, BucketInfo>();
  /** Versioning, Object Lock and SSE-KMS per bucket (s3-bucket-features.ts); opt-in with `configureBucket`. */
  readonly features = new BucketFeatures();
  private readonly app: { middleware: unknown[]; callback(): (req: IncomingMessage, res: ServerResponse) => void; logger?: { close(): void }; store: S3rverStore };
  private readonly callback: (req: IncomingMessage, res: ServerResponse) => void;
  private readonly accounts = new Map<string, S3rverAccount>();
  private readonly AWSAccount: new (id: string, name: string) => S3rverAccount;

  constructor(
    private readonly keys: KeyRegistry,
    readonly directory: string,
    /** When set, every request's IAM action(s) must be allowed for the caller (opt-in; see s3Actions). */
    private readonly authorize?: (credential: Credential, action: string, resource: string) => boolean,
  ) {
    const S3rver = require('@20minutes/s3rver');
    this.AWSAccount = require('@20minutes/s3rver/lib/models/account');
    this.app = new S3rver({ directory, silent: true, vhostBuckets: false, configureBuckets: [] });
    // Bucket-level requests the front verified carry their account on `req`; s3rver's own check of those
    // (which drops the signed trailing slash) then passes, because it only throws when no account is set.
    this.app.middleware.unshift(async (ctx: { req: IncomingMessage & { localAccount?: unknown }; state: { account?: unknown } }, next: () => Promise<void>) => {
      if (ctx.req.localAccount) ctx.state.account = ctx.req.localAccount;
      await next();
    });
    // s3rver escapes listed keys twice (he.escape in its XMLBuilder's tagValueProcessor, then the builder
    // escapes every `&` again), so a key with `&` or `'` came back as `&amp;` / `&#x27;`. Undo the second pass.
    this.app.middleware.unshift(async (ctx: { body: unknown }, next: () => Promise<void>) => {
      await next();
      if (typeof ctx.body === 'string' && ctx.body.includes('<ListBucketResult')) ctx.body = ctx.body.replaceAll('&amp;', '&');
    });
    this.callback = this.app.callback();
    // Every key S3 accepts (consecutive slashes, dot segments, 1,024-byte segments...): see s3-key-store.ts.
    installKeyShapeStore(this.app.store as unknown as KeyShapeStore);
    keys.onChange({
      added: (c) => this.s3rverAccount(c.principal.accountId).createKeyPair(c.accessKeyId, c.secretAccessKey),
      revoked: (id) => {
        for (const a of this.accounts.values()) a.revokeAccessKey(id);
      },
    });
  }

  get store(): S3rverStore {
    return this.app.store;
  }

  private s3rverAccount(accountId: string): S3rverAccount {
    let a = this.accounts.get(accountId);
    if (!a) {
      a = new this.AWSAccount(accountId, `local-${accountId}`);
      this.accounts.set(accountId, a);
    }
    return a;
  }

  /** Creates a bucket directly (stack set-up and tests). */
  async createBucket(name: string, region: string, ownerAccountId: string): Promise<BucketInfo> {
    const existing = this.buckets.get(name);
    if (existing) return existing;
    await this.store.putBucket(name);
    const info = { name, region, ownerAccountId, createdAt: new Date() };
    this.buckets.set(name, info);
    return info;
  }

  /** Gives a bucket versioning, Object Lock default retention or an SSE-KMS key (see s3-bucket-features.ts). */
  configureBucket(name: string, options: BucketFeatureOptions): void {
    if (!this.buckets.has(name)) throw new Error(`no bucket ${name}`);
    this.features.configure(name, options);
  }

  /** Reads an object straight from the store (the CloudFront edge's origin access). */
  async getObject(bucket: string, key: string): Promise<S3rverObject | null> {
    if (!this.buckets.has(bucket)) return null;
    try {
      return await this.store.getObject(bucket, key);
    } catch {
      return null;
    }
  }

  close(): void {
    try {
      this.app.logger?.close();
    } catch {
      // already closed
    }
  }

  handler() {
    return async (req: IncomingMessage & { localAccount?: unknown }, res: ServerResponse): Promise<void> => {
      try {
        await this.handle(req, res);
      } catch (err) {
        const e = err instanceof AwsError ? err : new AwsError('InternalError', (err as Error).message, 500);
        sendS3Error(req, res, e);
      }
    };
  }

  private async handle(req: IncomingMessage & { localAccount?: unknown }, res: ServerResponse): Promise<void> {
    const { path: rawPath, rawQuery } = splitUrl(req.url ?? '/');
    const query = parseRawQuery(rawQuery);
    const q = new Map(query);
    if (req.method === 'OPTIONS') return this.callback(req, res);
    const segments = rawPath.split('/');
    const bucket = decodeURIComponent(segments[1] ?? '');
    const rawKey = segments.slice(2).join('/');
    const isObject = rawKey.length > 0;

    const { credential, sig } = authenticate(this.keys, req, { rawPath, query, s3: true }, S3_AUTH_ERRORS);
    const account = this.s3rverAccount(credential.principal.accountId);

    if (!bucket) {
      if (req.method === 'GET') return this.listBuckets(credential, res);
      throw new AwsError('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405);
    }
    if (!isObject && req.method === 'PUT' && q.size === countAuthParams(q)) {
      return this.createBucketRequest(req, res, bucket, credential, sig.region);
    }
    const info = this.buckets.get(bucket);
    if (!info) {
      throw new AwsError('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: bucket });
    }
    res.setHeader('x-amz-bucket-region', info.region);
    if (!isObject && req.method === 'GET' && q.has('location')) {
      const lc = info.region === 'us-east-1' ? '' : info.region;
      return sendXml(res, 200, `<LocationConstraint xmlns="${S3_XMLNS}">${lc}</LocationConstraint>`);
    }
    if (sig.region !== info.region) {
      throw new AwsError(
        'PermanentRedirect',
        'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.',
        301,
        { Endpoint: `${bucket}.s3.${info.region}.amazonaws.com`, Bucket: bucket },
      );
    }
    const expectedOwner = req.headers['x-amz-expected-bucket-owner'];
    if (typeof expectedOwner === 'string' && expectedOwner !== info.ownerAccountId) {
      throw new AwsError('AccessDenied', 'Access Denied', 403);
    }
    if (this.authorize) {
      for (const [action, resource] of s3Actions(req, bucket, isObject ? decodeKey(rawKey) : undefined, q)) {
        if (!this.authorize(credential, action, resource)) throw new AwsError('AccessDenied', 'Access Denied', 403);
      }
    }
    if (!isObject && req.method === 'GET' && q.has('versions')) {
      return this.features.listObjectVersions(res, bucket, q, async (prefix) =>
        (await (this.store as unknown as StoreListing).listObjects(bucket, { prefix, maxKeys: 1000 })).objects.map((o) => ({
          key: o.key,
          size: o.size,
          lastModified: o.lastModifiedDate,
        })),
      );
    }
    if (!isObject) {
      if (req.method === 'DELETE' && q.size === countAuthParams(q)) {
        res.on('finish', () => {
          if (res.statusCode === 204) this.buckets.delete(bucket);
        });
      }
      req.localAccount = account;
      req.url = `/${segments[1]}${rawQuery ? `?${rawQuery}` : ''}`;
      return this.callback(req, res);
    }
    const featureHandled = await this.features.objectRequest({
      req,
      res,
      bucket,
      key: decodeKey(rawKey),
      q,
      callerArn: credential.principal.arn,
      deleteStored: async () => {
        await (this.store as unknown as { deleteObject(b: string, k: string): Promise<void> }).deleteObject(bucket, decodeKey(rawKey));
      },
    });
    if (featureHandled) return;
    // s3rver's router only matches keys made of non-empty segments (`a//b`, `/a`, `a/` and dot segments
    // would miss or be mangled). The front has verified the signature over the raw path, so hand s3rver
    // the key as one percent-encoded segment (its router decodes it back) and mark the request verified.
    req.localAccount = account;
    req.url = `/${segments[1]}/${keyAsOneSegment(decodeKey(rawKey))}${rawQuery ? `?${rawQuery}` : ''}`;
    const uploadId = q.get('uploadId');
    if (uploadId !== undefined) {
      const dir = path.join(this.store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
      const exists = /^[\w.-]+$/.test(uploadId) && existsSync(path.join(dir, 'key'));
      if (!exists) {
        throw new AwsError(
          'NoSuchUpload',
          'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
          404,
          { UploadId: uploadId },
        );
      }
      if (req.method === 'DELETE') {
        await fs.rm(dir, { recursive: true, force: true });
        res.statusCode = 204;
        res.setHeader('x-amz-request-id', requestId());
        res.end();
        return;
      }
    }
    if (req.method === 'PUT') {
      // Real S3 checks x-amz-checksum-* (header, or query of a presigned URL) against the body and answers
      // BadDigest; s3rver ignores them. This is what catches a presigned PUT carrying the CRC of an empty body.
      const expected = requestedChecksums(req.headers, query);
      if (expected.length > 0 && !String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING')) {
        const body = await readBody(req);
        for (const { algorithm, value } of expected) {
          const actual = checksumOf(algorithm, body);
          if (actual !== undefined && actual !== value) {
            throw new AwsError('BadDigest', `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`, 400);
          }
        }
        const replayed: IncomingMessage & { localAccount?: unknown } = replay(req, body);
        replayed.localAccount = account;
        return this.callback(replayed, res);
      }
    }
    return this.callback(req, res);
  }

  private listBuckets(credential: Credential, res: ServerResponse): void {
    const own = [...this.buckets.values()]
      .filter((b) => b.ownerAccountId === credential.principal.accountId)
      .sort((a, b) => a.name.localeCompare(b.name));
    const xml =
      `<ListAllMyBucketsResult xmlns="${S3_XMLNS}"><Owner><ID>${credential.principal.accountId}</ID>` +
      `<DisplayName>local-${credential.principal.accountId}</DisplayName></Owner><Buckets>` +
      own
        .map(
          (b) =>
            `<Bucket><Name>${xmlEscape(b.name)}</Name><CreationDate>${isoSeconds(b.createdAt)}</CreationDate>` +
            `<BucketRegion>${b.region}</BucketRegion></Bucket>`,
        )
        .join('') +
      `</Buckets></ListAllMyBucketsResult>`;
    sendXml(res, 200, xml);
  }

  private async createBucketRequest(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    credential: Credential,
    signingRegion: string,
  ): Promise<void> {
    const body = (await readBody(req, 1024 * 1024)).toString('utf8');
    const problem = bucketProblem(bucket);
    if (problem) throw new AwsError('InvalidBucketName', `The specified bucket is not valid: ${problem}`, 400, { BucketName: bucket });
    const lc = /<LocationConstraint>([^<]*)<\/LocationConstraint>/.exec(body)?.[1]?.trim();
    const region = lc ? (lc === 'EU' ? 'eu-west-1' : lc) : 'us-east-1';
    if (signingRegion !== 'us-east-1' && region !== signingRegion) {
      throw new AwsError(
        'IllegalLocationConstraintException',
        lc
          ? `The ${lc} location constraint is incompatible for the region specific endpoint this request was sent to.`
          : 'The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.',
        400,
      );
    }
    const existing = this.buckets.get(bucket);
    if (existing) {
      if (existing.ownerAccountId !== credential.principal.accountId) {
        throw new AwsError('BucketAlreadyExists', 'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.', 409, { BucketName: bucket });
      }
      if (existing.region !== 'us-east-1') {
        throw new AwsError('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', 409, { BucketName: bucket });
      }
    } else {
      await this.createBucket(bucket, region, credential.principal.accountId);
    }
    res.statusCode = 200;
    res.setHeader('location', `/${bucket}`);
    res.setHeader('x-amz-request-id', requestId());
    res.end();
  }
}

/** Query parameters that belong to SigV4 presigning, not to the operation. */
function countAuthParams(q: Map<string, string>): number {
  return [...q.keys()].filter((k) => k.startsWith('X-Amz-') || k === 'x-id').length;
}

function sendXml(res: ServerResponse, status: number, xml: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/xml');
  res.setHeader('x-amz-request-id', requestId());
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
}

function sendS3Error(req: IncomingMessage, res: ServerResponse, e: AwsError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.statusCode = e.status;
  res.setHeader('x-amz-request-id', requestId());
  if (req.method === 'HEAD') {
    // HEAD answers carry no body (the SDK then names 301/403/404 errors by status only).
    res.end();
    return;
  }
  res.setHeader('content-type', 'application/xml');
  const extra = Object.entries(e.extra)
    .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
    .join('');
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(e.code)}</Code><Message>${xmlEscape(e.message)}</Message>${extra}<RequestId>${requestId()}</RequestId></Error>`,
  );
}

const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** `x-amz-checksum-<algorithm>` values a request asks S3 to verify (headers, or a presigned URL's query). */
function requestedChecksums(headers: IncomingMessage['headers'], query: [string, string][]): { algorithm: ChecksumAlgorithm; value: string }[] {
  const out: { algorithm: ChecksumAlgorithm; value: string }[] = [];
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const name = `x-amz-checksum-${algorithm}`;
    const h = headers[name];
    const fromQuery = query.find(([k]) => k.toLowerCase() === name)?.[1];
    const value = typeof h === 'string' ? h : fromQuery;
    if (value !== undefined) out.push({ algorithm, value });
  }
  return out;
}

/** Base64 checksum as S3 computes it; undefined for algorithms the stack does not compute (crc32c, crc64nvme). */
function checksumOf(algorithm: ChecksumAlgorithm, body: Buffer): string | undefined {
  switch (algorithm) {
    case 'crc32': {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(crc32(body) >>> 0);
      return b.toString('base64');
    }
    case 'sha1':
    case 'sha256':
      return createHash(algorithm).update(body).digest('base64');
    default:
      return undefined;
  }
}

/** A key as a single path segment: `/` and `.` percent-encoded too, so no router or resolver splits or folds it. */
function keyAsOneSegment(key: string): string {
  return encodeURIComponent(key).replace(/[.!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeKey(rawKey: string): string {
  try {
    return rawKey.split('/').map(decodeURIComponent).join('/');
  } catch {
    return rawKey;
  }
}

/**
 * The IAM actions (and resources) S3 authorizes a request by, for the opt-in permission check:
 * ListBucket for HeadBucket/ListObjects, GetObject for GET/HEAD of an object, PutObject for PUT and the
 * multipart calls, AbortMultipartUpload, DeleteObject (DeleteObjects: on bucket/*), and the bucket calls.
 */
export function s3Actions(req: IncomingMessage, bucket: string, key: string | undefined, q: Map<string, string>): [string, string][] {
  const bucketArn = `arn:aws:s3:::${bucket}`;
  const m = req.method ?? 'GET';
  if (key === undefined) {
    if (q.has('location')) return [['s3:GetBucketLocation', bucketArn]];
    if (q.has('versions')) return [['s3:ListBucketVersions', bucketArn]];
    if (q.has('uploads')) return [['s3:ListBucketMultipartUploads', bucketArn]];
    if (q.has('delete')) return [['s3:DeleteObject', `${bucketArn}/*`]];
    if (m === 'GET' || m === 'HEAD') return [['s3:ListBucket', bucketArn]];
    if (m === 'DELETE') return [['s3:DeleteBucket', bucketArn]];
    if (m === 'PUT') return [['s3:CreateBucket', bucketArn]];
    return [['s3:ListBucket', bucketArn]];
  }
  const objectArn = `${bucketArn}/${key}`;
  if (m === 'DELETE' && q.has('versionId')) return [['s3:DeleteObjectVersion', objectArn]];
  if (m === 'DELETE') return [[q.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject', objectArn]];
  if (m === 'GET' && q.has('uploadId')) return [['s3:ListMultipartUploadParts', objectArn]];
  if (m === 'GET' || m === 'HEAD') return [['s3:GetObject', objectArn]];
  const copy = req.headers['x-amz-copy-source'];
  const out: [string, string][] = [['s3:PutObject', objectArn]];
  if (typeof copy === 'string') out.push(['s3:GetObject', `arn:aws:s3:::${decodeURIComponent(copy.replace(/^\//, '').split('?')[0]!)}`]);
  return out;
}
