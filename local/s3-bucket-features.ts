/**
 * Customer buckets as they really are, for the S3 stand-in (local/s3.ts calls this at two points; s3rver
 * itself knows none of it). Opt-in per bucket with `LocalS3.configureBucket(name, options)`:
 *
 * - `versioning`: every PutObject / CompleteMultipartUpload answers `x-amz-version-id`; DeleteObject without a
 *   VersionId only adds a delete marker (the version stays, as in S3); DeleteObject with a VersionId removes that
 *   version (or marker); ListObjectVersions (`GET /<bucket>?versions`) lists versions and markers. Only a ledger
 *   of versions is kept: the bytes of a noncurrent version are not (nothing here reads them).
 * - `objectLockRetentionDays` (implies versioning): default retention. A PUT of an object or a part without
 *   `Content-MD5` or an `x-amz-checksum-*` header gets S3's 400 InvalidRequest, and deleting a version still
 *   under retention gets 403 AccessDenied; a delete marker can always be added.
 * - `sseKmsKeyArn` with `denyKms(bucket, actions)`: the caller's role may not use the bucket's key, so writes
 *   (kms:GenerateDataKey) or reads (kms:Decrypt) get S3's 403 AccessDenied naming the KMS action and key.
 *
 * ListObjectVersions on a bucket without versioning lists its objects with VersionId "null", as S3 does.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsError, isoSeconds, requestId, xmlEscape } from './aws-protocol';

export interface BucketFeatureOptions {
  versioning?: boolean;
  /** Object Lock default retention (GOVERNANCE/COMPLIANCE alike here), in days. Implies versioning. */
  objectLockRetentionDays?: number;
  /** SSE-KMS default encryption with this customer-managed key. */
  sseKmsKeyArn?: string;
}

interface Version {
  versionId: string;
  isDeleteMarker: boolean;
  lastModified: Date;
  size: number;
  etag?: string;
}

interface BucketState extends BucketFeatureOptions {
  /** Per key, oldest first: the last entry is the current version (or a delete marker). */
  versions: Map<string, Version[]>;
  kmsDenied: Set<string>;
}

/** What the S3 stand-in passes for one request. */
export interface FeatureRequest {
  req: IncomingMessage;
  res: ServerResponse;
  bucket: string;
  key: string;
  q: Map<string, string>;
  /** The caller's ARN, for AccessDenied messages. */
  callerArn: string;
  /** Deletes the stored (current) object. */
  deleteStored: () => Promise<void>;
}

/** An object as the store lists it, for ListObjectVersions of an unversioned bucket. */
export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
  etag?: string;
}

const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

export class BucketFeatures {
  private readonly buckets = new Map<string, BucketState>();

  constructor(private readonly clock: () => Date = () => new Date()) {}

  configure(bucket: string, options: BucketFeatureOptions): void {
    const versioning = options.versioning === true || (options.objectLockRetentionDays ?? 0) > 0;
    this.buckets.set(bucket, { ...options, versioning, versions: this.buckets.get(bucket)?.versions ?? new Map(), kmsDenied: new Set() });
  }

  /** The bucket's KMS key refuses these actions (e.g. `kms:GenerateDataKey`, `kms:Decrypt`) to every caller. */
  denyKms(bucket: string, actions: string[]): void {
    const s = this.buckets.get(bucket);
    if (!s?.sseKmsKeyArn) throw new Error(`bucket ${bucket} has no SSE-KMS key configured`);
    s.kmsDenied = new Set(actions);
  }

  /** Versions and delete markers under `prefix` (tests read what Cleanup left behind). */
  versionsOf(bucket: string, prefix = ''): { key: string; versionId: string; isDeleteMarker: boolean }[] {
    const s = this.buckets.get(bucket);
    if (!s) return [];
    return [...s.versions]
      .filter(([k]) => k.startsWith(prefix))
      .flatMap(([key, vs]) => vs.map((v) => ({ key, versionId: v.versionId, isDeleteMarker: v.isDeleteMarker })));
  }

  /**
   * Object-level hook, after authentication and before s3rver. Returns true when it answered the request
   * itself; throws AwsError for S3's refusals; otherwise prepares the response (version ID) and returns false.
   */
  async objectRequest(r: FeatureRequest): Promise<boolean> {
    const s = this.buckets.get(r.bucket);
    if (!s) return false;
    const method = r.req.method ?? 'GET';
    const isPart = r.q.has('partNumber') && r.q.has('uploadId');
    const isWrite = (method === 'PUT' && !r.req.headers['x-amz-copy-source']) || (method === 'POST' && r.q.has('uploads'));
    if (s.sseKmsKeyArn && isWrite && s.kmsDenied.has('kms:GenerateDataKey')) throw kmsDenied(r.callerArn, 'kms:GenerateDataKey', s.sseKmsKeyArn);
    if (s.sseKmsKeyArn && (method === 'GET' || method === 'HEAD') && !r.q.has('uploadId') && s.kmsDenied.has('kms:Decrypt')) {
      throw kmsDenied(r.callerArn, 'kms:Decrypt', s.sseKmsKeyArn);
    }
    if ((s.objectLockRetentionDays ?? 0) > 0 && method === 'PUT' && !hasChecksum(r.req.headers, r.q)) {
      throw new AwsError(
        'InvalidRequest',
        `Content-MD5 OR x-amz-checksum- HTTP header is required for Put ${isPart ? 'Part' : 'Object'} requests with Object Lock parameters`,
        400,
      );
    }
    if (!s.versioning) return false;

    const completes = method === 'POST' && r.q.has('uploadId');
    if ((method === 'PUT' && !isPart) || completes) {
      const version: Version = { versionId: newVersionId(), isDeleteMarker: false, lastModified: this.clock(), size: Number(r.req.headers['content-length'] ?? 0) };
      r.res.setHeader('x-amz-version-id', version.versionId);
      r.res.on('finish', () => {
        if (r.res.statusCode === 200) this.push(s, r.key, version);
      });
      return false;
    }
    if (method === 'DELETE' && !r.q.has('uploadId')) {
      const versionId = r.q.get('versionId');
      const list = s.versions.get(r.key) ?? [];
      if (versionId === undefined) {
        const marker: Version = { versionId: newVersionId(), isDeleteMarker: true, lastModified: this.clock(), size: 0 };
        this.push(s, r.key, marker);
        await r.deleteStored();
        return noContent(r.res, { 'x-amz-version-id': marker.versionId, 'x-amz-delete-marker': 'true' });
      }
      const i = list.findIndex((v) => v.versionId === versionId);
      if (i === -1) return noContent(r.res, { 'x-amz-version-id': versionId });
      const v = list[i]!;
      const retainedUntil = v.lastModified.getTime() + (s.objectLockRetentionDays ?? 0) * 86_400_000;
      if (!v.isDeleteMarker && retainedUntil > this.clock().getTime()) {
        throw new AwsError('AccessDenied', 'Access Denied because object protected by object lock.', 403);
      }
      const wasCurrent = i === list.length - 1;
      list.splice(i, 1);
      if (list.length === 0) s.versions.delete(r.key);
      if (wasCurrent && !v.isDeleteMarker) await r.deleteStored();
      return noContent(r.res, { 'x-amz-version-id': versionId, ...(v.isDeleteMarker ? { 'x-amz-delete-marker': 'true' } : {}) });
    }
    return false;
  }

  /** `GET /<bucket>?versions`: ListObjectVersions (prefix and max-keys; one page). */
  async listObjectVersions(res: ServerResponse, bucket: string, q: Map<string, string>, listStored: (prefix: string) => Promise<StoredObject[]>): Promise<void> {
    const prefix = q.get('prefix') ?? '';
    const maxKeys = Math.min(Number(q.get('max-keys') ?? 1000) || 1000, 1000);
    const s = this.buckets.get(bucket);
    const rows: string[] = [];
    if (s?.versioning) {
      for (const [key, list] of [...s.versions].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => a.localeCompare(b))) {
        list.forEach((v, i) => {
          const common =
            `<Key>${xmlEscape(key)}</Key><VersionId>${v.versionId}</VersionId><IsLatest>${i === list.length - 1}</IsLatest>` +
            `<LastModified>${isoSeconds(v.lastModified)}</LastModified>`;
          rows.push(v.isDeleteMarker ? `<DeleteMarker>${common}</DeleteMarker>` : `<Version>${common}<Size>${v.size}</Size><StorageClass>STANDARD</StorageClass></Version>`);
        });
      }
    } else {
      for (const o of await listStored(prefix)) {
        rows.push(
          `<Version><Key>${xmlEscape(o.key)}</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>` +
            `<LastModified>${isoSeconds(o.lastModified)}</LastModified><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Version>`,
        );
      }
    }
    res.statusCode = 200;
    res.setHeader('content-type', 'application/xml');
    res.setHeader('x-amz-request-id', requestId());
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListVersionsResult xmlns="${S3_XMLNS}"><Name>${xmlEscape(bucket)}</Name>` +
        `<Prefix>${xmlEscape(prefix)}</Prefix><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>false</IsTruncated>${rows.slice(0, maxKeys).join('')}</ListVersionsResult>`,
    );
  }

  private push(s: BucketState, key: string, v: Version): void {
    const list = s.versions.get(key) ?? [];
    list.push(v);
    s.versions.set(key, list);
  }
}

function hasChecksum(headers: IncomingMessage['headers'], q: Map<string, string>): boolean {
  if (headers['content-md5']) return true;
  if (Object.keys(headers).some((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-type')) return true;
  return [...q.keys()].some((k) => k.toLowerCase().startsWith('x-amz-checksum-'));
}

function kmsDenied(callerArn: string, action: string, keyArn: string): AwsError {
  return new AwsError(
    'AccessDenied',
    `User: ${callerArn} is not authorized to perform: ${action} on resource: ${keyArn} because no identity-based policy allows the ${action} action`,
    403,
  );
}

function newVersionId(): string {
  return randomBytes(24).toString('base64url');
}

function noContent(res: ServerResponse, headers: Record<string, string>): true {
  res.statusCode = 204;
  res.setHeader('x-amz-request-id', requestId());
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end();
  return true;
}
