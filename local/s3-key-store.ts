/**
 * Object keys as S3 has them, on s3rver's file store: any UTF-8 string of up to 1,024 bytes, with
 * consecutive slashes, a leading or trailing slash, `.` and `..` segments, a single 1,024-byte segment,
 * unicode. s3rver stores `a/b` as the file `a/._S3rver_b` under the bucket, so such keys collapse
 * (`a//b` = `a/b`), escape the bucket (`../x`) or exceed the file system's 255-byte names.
 *
 * Here each object lives in `<bucket>/._S3rver_keys/<sha256 of the key>/`, with its key in a `key` file
 * beside s3rver's own `object`, `object.md5` and `metadata.json`: any key gets a safe, fixed-length
 * on-disk name. Listing reads those keys back and orders them as S3 does (by UTF-8 bytes), with
 * prefix, delimiter, start-after and max-keys applied to the real keys. s3rver's controllers, multipart
 * uploads (`._S3rver_uploads`, unchanged) and signature checks are untouched: only the store's object
 * paths change, by overriding the few store methods that build or walk them on this store instance.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The directory, under each bucket, that holds one sub-directory per object. */
export const KEYS_DIR = '._S3rver_keys';

interface StoredObjectModel {
  new (bucket: string, key: string, content: unknown, metadata: Record<string, unknown>): unknown;
}

interface ListOptions {
  delimiter?: string;
  startAfter?: string;
  prefix?: string;
  maxKeys?: number;
}

/** The parts of s3rver's FilesystemStore this overrides or calls. */
export interface KeyShapeStore {
  rootDirectory: string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, unknown>>;
  putObject(object: { bucket: string; key: string }): Promise<unknown>;
  copyObject(srcBucket: string, srcKey: string, destBucket: string, destKey: string, metadata?: unknown): Promise<unknown>;
  deleteObject(bucket: string, key: string): Promise<void>;
  listObjects(bucket: string, options: ListOptions): Promise<{ objects: unknown[]; commonPrefixes: string[]; isTruncated: boolean }>;
}

/** The on-disk directory name of a key: fixed length, whatever the key. */
export function keyDirName(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** S3 lists keys in the binary order of their UTF-8 bytes (not JavaScript's UTF-16 order). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Lets `store` hold every key S3 does (see the module comment). Idempotent. */
export function installKeyShapeStore(store: KeyShapeStore): void {
  const marked = store as KeyShapeStore & { keyShapes?: true };
  if (marked.keyShapes) return;
  marked.keyShapes = true;
  const S3Object = require('@20minutes/s3rver/lib/models/object') as StoredObjectModel;
  const original = {
    getResourcePath: store.getResourcePath.bind(store),
    putObject: store.putObject.bind(store),
    copyObject: store.copyObject.bind(store),
  };
  const keysDir = (bucket: string) => path.join(store.rootDirectory, bucket, KEYS_DIR);
  const objectDir = (bucket: string, key: string) => path.join(keysDir(bucket), keyDirName(key));

  // Bucket-level resources (key undefined or ''), such as the multipart uploads directory, stay where
  // s3rver puts them; object resources go to the key's directory.
  store.getResourcePath = (bucket, key, resource) =>
    key ? path.join(objectDir(bucket, key), resource) : original.getResourcePath(bucket, key, resource);

  store.putObject = async (object) => {
    const dir = objectDir(object.bucket, object.key);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'key'), object.key, 'utf8');
    return original.putObject(object);
  };

  store.copyObject = async (srcBucket, srcKey, destBucket, destKey, metadata) => {
    const dir = objectDir(destBucket, destKey);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'key'), destKey, 'utf8');
    return original.copyObject(srcBucket, srcKey, destBucket, destKey, metadata);
  };

  store.deleteObject = async (bucket, key) => {
    await fs.rm(objectDir(bucket, key), { recursive: true, force: true });
  };

  store.listObjects = async (bucket, options) => {
    const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
    const root = keysDir(bucket);
    const names = existsSync(root) ? await fs.readdir(root) : [];
    const keys: string[] = [];
    for (const name of names) {
      const dir = path.join(root, name);
      if (!existsSync(path.join(dir, 'object'))) continue; // being written, or a leftover
      const key = await fs.readFile(path.join(dir, 'key'), 'utf8').catch(() => undefined);
      if (key === undefined) continue;
      if (!key.startsWith(prefix) || (startAfter && compareKeys(key, startAfter) <= 0)) continue;
      keys.push(key);
    }
    keys.sort(compareKeys);
    const commonPrefixes = new Set<string>();
    const listed: string[] = [];
    let isTruncated = false;
    for (const key of keys) {
      if (delimiter) {
        const idx = key.indexOf(delimiter, prefix.length);
        if (idx !== -1) {
          commonPrefixes.add(key.slice(0, idx + delimiter.length));
          continue;
        }
      }
      if (listed.length >= maxKeys) {
        isTruncated = true;
        break;
      }
      listed.push(key);
    }
    const objects = [];
    for (const key of listed) {
      const metadata = await store.getMetadata(bucket, key).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (metadata) objects.push(new S3Object(bucket, key, null, metadata));
    }
    return { objects, commonPrefixes: [...commonPrefixes].sort(compareKeys), isTruncated };
  };
}
