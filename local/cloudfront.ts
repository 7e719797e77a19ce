/**
 * CloudFront edge stand-in: one HTTP server on 127.0.0.1 that serves "distributions" registered with
 * `registerDistribution` (in-process) or `POST /_local/distributions` (JSON, for another process).
 *
 * A request must carry a valid signed URL: canned policy (`Expires`, `Signature`, `Key-Pair-Id`,
 * optional `Hash-Algorithm=SHA256`) or custom policy (`Policy`, `Signature`, `Key-Pair-Id`), with
 * CloudFront's URL-safe base64 (`+`→`-`, `=`→`_`, `/`→`~`), signed by the private key of a public key the
 * distribution trusts (RSA: RSA-SHA1 or RSA-SHA256; EC P-256: ECDSA with DER signatures). Anything unsigned,
 * expired, tampered or signed with an unknown key gets 403 with CloudFront's XML. On success the object
 * `<originPath><decoded path>` is served from the distribution's bucket in the local S3.
 *
 * Which distribution a request is for is decided by its Key-Pair-Id (all share the one edge host).
 *
 * Propagation: `deployingRequests: N` (or `simulateDeploying(id, N)`) makes the next N signed requests for
 * the distribution answer 403 "Unknown Key", as CloudFront does while a just-created key group or public key
 * has not reached the edge yet. VerifyDownload must wait that out (WaitForCloudFront) rather than fail.
 */
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, splitUrl, xmlEscape } from './aws-protocol';
import type { LocalS3 } from './s3';

export interface DistributionInput {
  /** Public key IDs (like K2JCJMDEHXQW5F) and their PEM public keys: the distribution's trusted key group. */
  publicKeys: { id: string; publicKeyPem: string }[];
  bucket: string;
  /** Prefix added to the request path to form the object key, like `peridio/` (no leading slash). */
  originPath?: string;
  /** Default true: refuse unsigned requests. False models a distribution without restricted viewer access. */
  requireSignedUrls?: boolean;
  /** The next N signed requests get 403 "Unknown Key": the key group is still deploying. Default 0. */
  deployingRequests?: number;
  id?: string;
}

export interface Distribution {
  id: string;
  bucket: string;
  originPath: string;
  requireSignedUrls: boolean;
  keys: Map<string, KeyObject>;
  /** Signed requests still to answer "Unknown Key" (see the module comment). */
  deployingRequests: number;
}

export interface EdgeRequestLog {
  at: string;
  path: string;
  status: number;
  reason: string;
}

export class CloudFrontEdge {
  readonly distributions = new Map<string, Distribution>();
  readonly requests: EdgeRequestLog[] = [];
  /** The edge's `127.0.0.1:<port>`, set once it listens: the host every distribution is served on. */
  host = '';
  private counter = 0;

  constructor(
    private readonly s3: LocalS3,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  registerDistribution(input: DistributionInput): Distribution {
    const keys = new Map<string, KeyObject>();
    for (const k of input.publicKeys) {
      const key = createPublicKey(k.publicKeyPem);
      const type = key.asymmetricKeyType;
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (!(type === 'rsa' || (type === 'ec' && (curve === 'prime256v1' || curve === 'P-256')))) {
        throw new Error(`public key ${k.id}: CloudFront accepts RSA or EC P-256 keys (got ${type} ${curve ?? ''})`);
      }
      keys.set(k.id, key);
    }
    this.counter += 1;
    const d: Distribution = {
      id: input.id ?? `ELOCAL${String(this.counter).padStart(8, '0')}`,
      bucket: input.bucket,
      originPath: (input.originPath ?? '').replace(/^\/+/, ''),
      requireSignedUrls: input.requireSignedUrls ?? true,
      keys,
      deployingRequests: Math.max(0, Math.floor(input.deployingRequests ?? 0)),
    };
    this.distributions.set(d.id, d);
    return d;
  }

  /**
   * The demo's shorthand: one public key (its id generated like CloudFront's, `K` + 13 characters,
   * unless given) trusted by a new distribution in front of `originBucket`.
   */
  createDistribution(input: { originBucket: string; publicKeyPem: string; keyPairId?: string; originPath?: string; requireSignedUrls?: boolean }): {
    id: string;
    host: string;
    keyPairId: string;
  } {
    const keyPairId = input.keyPairId ?? `K${Array.from(randomBytes(13), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[b % 36]).join('')}`;
    const d = this.registerDistribution({
      publicKeys: [{ id: keyPairId, publicKeyPem: input.publicKeyPem }],
      bucket: input.originBucket,
      originPath: input.originPath,
      requireSignedUrls: input.requireSignedUrls,
    });
    return { id: d.id, host: this.host, keyPairId };
  }

  /** The next `requests` signed requests for distribution `id` get 403 "Unknown Key" (still deploying). */
  simulateDeploying(id: string, requests: number): void {
    const d = this.distributions.get(id);
    if (!d) throw new Error(`no distribution ${id}`);
    d.deployingRequests = Math.max(0, Math.floor(requests));
  }

  private byKeyId(keyPairId: string): Distribution | undefined {
    return [...this.distributions.values()].find((d) => d.keys.has(keyPairId));
  }

  handler() {
    return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const { path, rawQuery } = splitUrl(req.url ?? '/');
      if (path === '/_local/distributions') {
        if (req.method === 'POST') {
          try {
            const input = JSON.parse((await readBody(req)).toString('utf8')) as DistributionInput;
            const d = this.registerDistribution(input);
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify({ id: d.id, bucket: d.bucket, originPath: d.originPath, keyPairIds: [...d.keys.keys()] }));
          } catch (err) {
            res.statusCode = 400;
            res.end(JSON.stringify({ message: (err as Error).message }));
          }
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify(
            [...this.distributions.values()].map((d) => ({ id: d.id, bucket: d.bucket, originPath: d.originPath, keyPairIds: [...d.keys.keys()] })),
          ),
        );
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.deny(req, res, 405, 'MethodNotAllowed', 'The specified method is not allowed');
      const result = this.check(req, path, rawQuery);
      if ('status' in result) return this.deny(req, res, result.status, result.code, result.message);
      const key = result.distribution.originPath + path.slice(1).split('/').map(safeDecode).join('/');
      const obj = await this.s3.getObject(result.distribution.bucket, key);
      if (!obj) return this.deny(req, res, 404, 'NoSuchKey', 'The specified key does not exist.');
      this.log(path, 200, 'served');
      res.statusCode = 200;
      res.setHeader('content-type', obj.metadata['content-type'] ?? 'application/octet-stream');
      res.setHeader('content-length', String(obj.size));
      if (obj.metadata.etag) res.setHeader('etag', obj.metadata.etag);
      res.setHeader('x-cache', 'Miss from cloudfront');
      res.setHeader('via', '1.1 local.cloudfront.net (CloudFront)');
      if (req.method === 'HEAD' || !obj.content) {
        (obj.content as { destroy?: () => void } | null)?.destroy?.();
        res.end();
        return;
      }
      (obj.content as NodeJS.ReadableStream).pipe(res);
    };
  }

  private check(
    req: IncomingMessage,
    path: string,
    rawQuery: string,
  ): { distribution: Distribution } | { status: number; code: string; message: string } {
    const pairs = rawQuery ? rawQuery.split('&').map((p) => p.split('=') as [string, string?]) : [];
    const get = (k: string) => pairs.find(([n]) => n === k)?.[1];
    const keyPairId = get('Key-Pair-Id');
    const signature = get('Signature');
    const expires = get('Expires');
    const policyParam = get('Policy');
    const hashAlgorithm = get('Hash-Algorithm');
    if (!keyPairId && !signature && !expires && !policyParam) {
      const open = [...this.distributions.values()].find((d) => !d.requireSignedUrls);
      if (open) return { distribution: open };
      return { status: 403, code: 'MissingKey', message: 'Missing Key-Pair-Id query parameter or cookie value' };
    }
    if (!keyPairId) return { status: 403, code: 'MissingKey', message: 'Missing Key-Pair-Id query parameter or cookie value' };
    const distribution = this.byKeyId(decodeURIComponent(keyPairId));
    if (!distribution) return { status: 403, code: 'InvalidKey', message: 'Unknown Key' };
    if (distribution.deployingRequests > 0) {
      distribution.deployingRequests -= 1;
      return { status: 403, code: 'InvalidKey', message: 'Unknown Key' };
    }
    if (!signature) return { status: 403, code: 'MissingKey', message: 'Missing Signature query parameter or cookie value' };
    if (hashAlgorithm !== undefined && hashAlgorithm !== 'SHA256' && hashAlgorithm !== 'SHA1') {
      return { status: 403, code: 'AccessDenied', message: 'Invalid Hash-Algorithm' };
    }
    const host = String(req.headers.host ?? '');
    const signedParams = new Set(['Expires', 'Signature', 'Key-Pair-Id', 'Policy', 'Hash-Algorithm']);
    const rest = pairs.filter(([n]) => !signedParams.has(n)).map(([n, v]) => (v === undefined ? n : `${n}=${v}`));
    const resourceUrl = `http://${host}${path}${rest.length ? `?${rest.join('&')}` : ''}`;
    let policy: string;
    let epochLimit: number;
    let notBefore: number | undefined;
    if (policyParam) {
      try {
        policy = fromCloudFrontBase64(decodeURIComponent(policyParam)).toString('utf8');
        const doc = JSON.parse(policy) as { Statement: { Resource?: string; Condition?: Record<string, Record<string, number | string>> }[] };
        const st = doc.Statement?.[0];
        if (!st) throw new Error('no statement');
        const pattern = st.Resource ?? '*';
        if (!globMatch(pattern, resourceUrl) && !globMatch(pattern, resourceUrl.replace(/^http:/, 'https:'))) {
          return { status: 403, code: 'AccessDenied', message: 'Access denied' };
        }
        epochLimit = Number(st.Condition?.DateLessThan?.['AWS:EpochTime']);
        const nb = st.Condition?.DateGreaterThan?.['AWS:EpochTime'];
        notBefore = nb === undefined ? undefined : Number(nb);
      } catch {
        return { status: 403, code: 'MalformedPolicy', message: 'Malformed Policy' };
      }
    } else {
      if (!expires || !/^\d+$/.test(expires)) return { status: 403, code: 'MissingKey', message: 'Missing Expires query parameter or cookie value' };
      epochLimit = Number(expires);
      policy = canned(resourceUrl, epochLimit);
    }
    const now = Math.floor(this.clock().getTime() / 1000);
    if (!(now < epochLimit) || (notBefore !== undefined && now <= notBefore)) {
      return { status: 403, code: 'AccessDenied', message: 'Access denied' };
    }
    const key = distribution.keys.get(decodeURIComponent(keyPairId))!;
    let sigBytes: Buffer;
    try {
      sigBytes = fromCloudFrontBase64(decodeURIComponent(signature));
    } catch {
      return { status: 403, code: 'AccessDenied', message: 'Access denied' };
    }
    const algorithm = hashAlgorithm === 'SHA256' ? 'sha256' : 'sha1';
    let ok = verifies(algorithm, policy, key, sigBytes);
    if (!ok && !policyParam) {
      // Signed for https://host/... (what CloudFront would serve) rather than the loopback http URL.
      ok = verifies(algorithm, canned(resourceUrl.replace(/^http:/, 'https:'), epochLimit), key, sigBytes);
    }
    if (!ok) return { status: 403, code: 'AccessDenied', message: 'Access denied' };
    return { distribution };
  }

  private deny(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
    this.log(splitUrl(req.url ?? '/').path, status, code);
    res.statusCode = status;
    res.setHeader('content-type', 'text/xml');
    res.setHeader('x-cache', 'Error from cloudfront');
    res.end(req.method === 'HEAD' ? undefined : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error>`);
  }

  private log(path: string, status: number, reason: string): void {
    this.requests.push({ at: this.clock().toISOString(), path, status, reason });
    if (this.requests.length > 2000) this.requests.shift();
  }
}

function canned(url: string, expires: number): string {
  return `{"Statement":[{"Resource":"${url}","Condition":{"DateLessThan":{"AWS:EpochTime":${expires}}}}]}`;
}

function verifies(algorithm: string, data: string, key: KeyObject, signature: Buffer): boolean {
  try {
    return verify(algorithm, Buffer.from(data, 'utf8'), key, signature);
  } catch {
    return false;
  }
}

/** CloudFront's URL-safe base64: `-` for `+`, `_` for `=`, `~` for `/`. */
export function fromCloudFrontBase64(s: string): Buffer {
  if (!/^[A-Za-z0-9\-_~]*$/.test(s)) throw new Error('not CloudFront base64');
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64');
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
