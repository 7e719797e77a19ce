/**
 * URL signers shared by the signer Lambda and the workflow's VerifyDownload step ("the URL a device
 * would get"). Both are pure CPU work on the hot path: no network call is made per URL.
 *
 * S3: SigV4 query presigning with `@smithy/signature-v4` used directly. `@aws-sdk/s3-request-presigner`
 * builds a client middleware stack per URL and costs ~20x more (STACK.md). The only thing we take from
 * the SDK is *where* a bucket lives: the S3 endpoint rule set, fed with the endpoint configured through
 * `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` exactly as every SDK client reads it, is evaluated once per
 * (endpoint config, bucket, region) and cached, without building an S3Client (s3-endpoint.ts). So real S3 gets virtual-hosted URLs
 * (`https://<bucket>.s3.<region>.amazonaws.com/<key>`), an IP endpoint gets path-style URLs, and there
 * is no `if (local)` anywhere: the same derivation runs in every environment.
 *
 * CloudFront: canned-policy signed URLs with a cached KeyObject (RSA 2048 or EC P-256), SHA-1 by default
 * or SHA-256 with `Hash-Algorithm=SHA256`. The RSA-SHA1 output is byte-identical to
 * `@aws-sdk/cloudfront-signer` `getSignedUrl` for the same key, URL and expiry.
 */
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentials } from './credential-broker';
import { resolveS3Endpoint, type S3BucketEndpoint } from './s3-endpoint';
import { isLoopbackHost } from './rules';

/** A loopback host:port (the local CloudFront edge): the only hosts that get plain http. */
export { isLoopbackHost };

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/** RFC 3986 strict: everything but unreserved `A-Z a-z 0-9 - . _ ~` is percent-encoded (what SigV4 signs). */
export function rfc3986Encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An object key as an S3 URL path: each segment encoded strictly, `/` kept (the SDK's `{Key+}` greedy label). */
export function s3KeyPath(key: string): string {
  return key.split('/').map(rfc3986Encode).join('/');
}

/**
 * An object path as a CloudFront URL path: each segment percent-encoded, `/` kept. Segments are encoded
 * with `encodeURIComponent`, which leaves RFC 3986 sub-delims `! ' ( ) *` as they are (legal in a path
 * segment). That is exactly what `@aws-sdk/cloudfront-signer` produces for the same URL, so our RSA-SHA1
 * URLs stay byte-identical to it for every key, not only for keys without those characters.
 */
export function cloudFrontObjectPath(objectPath: string): string {
  return objectPath.split('/').map(encodeURIComponent).join('/');
}

// ---------------------------------------------------------------------------------------------
// S3
// ---------------------------------------------------------------------------------------------

export type { S3BucketEndpoint };

/**
 * Resolves the bucket's endpoint the way an S3Client for `region` would (S3's endpoint rule set plus
 * `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` / `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`), without a client:
 * see s3-endpoint.ts. Cached per (configured endpoint, bucket, region).
 */
export async function resolveS3BucketEndpoint(bucket: string, region: string): Promise<S3BucketEndpoint> {
  return resolveS3Endpoint(bucket, region);
}

/** One SignatureV4 per credentials object (the broker hands out the same object while it is cached). */
const signers = new WeakMap<AwsCredentials, SignatureV4>();
const sha256 = Hash.bind(null, 'sha256');

/**
 * A SigV4 signer for S3 in `region` with these credentials: the one configuration both the presigned URLs and
 * the signed multipart calls (s3-multipart.ts) use.
 */
export function newS3Signer(credentials: AwsCredentials, region: string): SignatureV4 {
  return new SignatureV4({
    service: 's3',
    region,
    credentials: {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      sessionToken: credentials.sessionToken,
    },
    sha256,
    // S3 signs the path as sent, encoded once (the SDK's S3 presigner does the same).
    uriEscapePath: false,
    applyChecksum: false,
  });
}

function signerFor(credentials: AwsCredentials, region: string): SignatureV4 {
  let signer = signers.get(credentials);
  if (!signer) {
    signer = newS3Signer(credentials, region);
    signers.set(credentials, signer);
  }
  return signer;
}

export interface PresignS3UrlArgs {
  credentials: AwsCredentials;
  region: string;
  bucket: string;
  key: string;
  method: 'GET' | 'PUT';
  expiresInSeconds: number;
  now: Date;
  /** Signed query parameters, e.g. `{partNumber: '1', uploadId}` for UploadPart. */
  extraQuery?: Record<string, string>;
}

/**
 * A SigV4 presigned S3 URL. Never carries `x-amz-checksum-*` (real S3 would reject the upload).
 * The URL works until `now + expiresInSeconds` or until the credentials expire, whichever is first:
 * clamping to the credentials is the caller's job. Throws when expiresInSeconds is over 7 days.
 */
export async function presignS3Url(a: PresignS3UrlArgs): Promise<string> {
  const presign = await s3Presigner({ credentials: a.credentials, region: a.region, bucket: a.bucket });
  return presign(a);
}

export interface S3PresignTarget {
  credentials: AwsCredentials;
  region: string;
  bucket: string;
}

/** One URL for a target fixed by `s3Presigner`. */
export type S3Presign = (a: {
  key: string;
  method: 'GET' | 'PUT';
  expiresInSeconds: number;
  now: Date;
  extraQuery?: Record<string, string>;
}) => Promise<string>;

/**
 * A presigner for one bucket and one set of credentials: the endpoint is resolved and the SignatureV4
 * found once, so a batch of URLs pays only for the signatures. Same output as presignS3Url.
 */
export async function s3Presigner(target: S3PresignTarget): Promise<S3Presign> {
  const endpoint = await resolveS3BucketEndpoint(target.bucket, target.region);
  const signer = signerFor(target.credentials, target.region);
  const host = endpoint.port === undefined ? endpoint.hostname : `${endpoint.hostname}:${endpoint.port}`;
  const origin = `${endpoint.protocol}//${host}`;
  const region = target.region;
  return async (a) => {
    const request = new HttpRequest({
      method: a.method,
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      port: endpoint.port,
      path: `${endpoint.basePath}/${s3KeyPath(a.key)}`,
      query: a.extraQuery ? { ...a.extraQuery } : {},
      // UNSIGNED-PAYLOAD: the body is not known when the URL is made (hoisted into the query, like the SDK).
      headers: { host, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' },
    });
    const signed = await signer.presign(request, {
      signingDate: a.now,
      expiresIn: a.expiresInSeconds,
      signingRegion: region,
    });
    return `${origin}${signed.path}?${queryString(signed.query as Record<string, string>)}`;
  };
}

/**
 * The session token (~1 KB for assumed roles) is the same in every URL of a batch; re-encoding it per URL
 * was the largest single cost of presignS3Url after the signature itself. Remember the last few.
 */
const encodedLongValues = new Map<string, string>();
function encodeQueryValue(value: string): string {
  if (value.length < 128) return rfc3986Encode(value);
  let encoded = encodedLongValues.get(value);
  if (encoded === undefined) {
    encoded = rfc3986Encode(value);
    if (encodedLongValues.size >= 8) encodedLongValues.delete(encodedLongValues.keys().next().value!);
    encodedLongValues.set(value, encoded);
  }
  return encoded;
}

function queryString(query: Record<string, string>): string {
  const parts: string[] = [];
  for (const name of Object.keys(query).sort()) {
    parts.push(`${rfc3986Encode(name)}=${encodeQueryValue(query[name]!)}`);
  }
  return parts.join('&');
}

// ---------------------------------------------------------------------------------------------
// CloudFront
// ---------------------------------------------------------------------------------------------

export interface CloudFrontUrlArgs {
  /** `d111.cloudfront.net`, `cdn.example.com`, or the local edge `127.0.0.1:<port>`. */
  host: string;
  /** `<prefix><key>`, not encoded. */
  objectPath: string;
  keyPairId: string;
  privateKey: KeyObject;
  hashAlgorithm: 'SHA1' | 'SHA256';
  expiresEpochSeconds: number;
}

/** `https://<host>/<encoded path>`; plain `http` only for a loopback host:port (the local edge). */
export function unsignedCloudFrontUrl(host: string, objectPath: string): string {
  const scheme = isLoopbackHost(host) ? 'http' : 'https';
  return `${scheme}://${host}/${cloudFrontObjectPath(objectPath)}`;
}

/** The canned policy CloudFront rebuilds from the request and verifies the signature against. */
export function cannedPolicy(resourceUrl: string, expiresEpochSeconds: number): string {
  return `{"Statement":[{"Resource":${JSON.stringify(resourceUrl)},"Condition":{"DateLessThan":{"AWS:EpochTime":${expiresEpochSeconds}}}}]}`;
}

const PADDING = ['', '__', '_'];

/**
 * CloudFront's URL-safe base64: `+` -> `-`, `=` -> `_`, `/` -> `~`. Built from Node's base64url (which
 * already maps `+` -> `-`, and `/` -> `_`, without padding): `_` becomes `~`, and the padding comes back as `_`.
 */
export function cloudFrontBase64(bytes: Buffer): string {
  return bytes.toString('base64url').replaceAll('_', '~') + PADDING[bytes.length % 3]!;
}

/** Per host: the URL's origin and the policy's head up to the path (`{"Statement":[{"Resource":"https://host/`). */
interface HostParts {
  origin: string;
  policyHead: string;
  /** The head is ASCII, so the whole policy is (the encoded path is): `latin1` encodes it, faster than UTF-8. */
  ascii: boolean;
}
const hostParts = new Map<string, HostParts>();

function partsFor(host: string): HostParts {
  let parts = hostParts.get(host);
  if (!parts) {
    const origin = `${isLoopbackHost(host) ? 'http' : 'https'}://${host}/`;
    // JSON.stringify(resourceUrl) without its closing quote: the path that follows needs no escaping.
    const policyHead = `{"Statement":[{"Resource":${JSON.stringify(origin).slice(0, -1)}`;
    parts = { origin, policyHead, ascii: /^[\x20-\x7e]*$/.test(policyHead) };
    if (hostParts.size >= 64) hostParts.clear();
    hostParts.set(host, parts);
  }
  return parts;
}

/** The pieces after the path, which a batch shares (one expiry, one key pair): the last ones are kept. */
let lastTail: { expires: number; keyPairId: string; sha256: boolean; policyTail: string; queryHead: string; queryTail: string } | undefined;

/**
 * A canned-policy signed CloudFront URL. RSA keys give PKCS#1 v1.5 signatures, EC P-256 keys DER ECDSA
 * signatures; SHA256 adds `Hash-Algorithm=SHA256`. Query order matches `@aws-sdk/cloudfront-signer`:
 * `Expires`, `Key-Pair-Id`, `Signature`[, `Hash-Algorithm`].
 *
 * Per URL it only encodes the path, concatenates and signs: the origin and the policy's head are cached per
 * host, the policy's tail and the query per (expiry, key pair, hash), and the path is encoded in one
 * `encodeURIComponent` (then `%2F` back to `/`, the same as encoding each segment: no other input encodes
 * to `%2F`). With an EC P-256 key the signature is ~8x cheaper than with RSA-2048, so this string work would
 * otherwise be a visible share of the cost (issue 12.9). The URL is byte-identical to the plain construction
 * `unsignedCloudFrontUrl` + `cannedPolicy` (tests compare, and with @aws-sdk/cloudfront-signer).
 */
export function cloudFrontUrl(a: CloudFrontUrlArgs): string {
  const expires = a.expiresEpochSeconds;
  const sha256 = a.hashAlgorithm === 'SHA256';
  let tail = lastTail;
  if (!tail || tail.expires !== expires || tail.keyPairId !== a.keyPairId || tail.sha256 !== sha256) {
    if (!Number.isInteger(expires) || expires <= 0 || expires > 2_147_483_647) {
      throw new RangeError(`expiresEpochSeconds must be a positive 32-bit epoch second (got ${expires})`);
    }
    tail = lastTail = {
      expires,
      keyPairId: a.keyPairId,
      sha256,
      policyTail: `","Condition":{"DateLessThan":{"AWS:EpochTime":${expires}}}}]}`,
      queryHead: `?Expires=${expires}&Key-Pair-Id=${rfc3986Encode(a.keyPairId)}&Signature=`,
      queryTail: sha256 ? '&Hash-Algorithm=SHA256' : '',
    };
  }
  const host = partsFor(a.host);
  const path = encodeURIComponent(a.objectPath).replaceAll('%2F', '/');
  const policy = host.policyHead + path + tail.policyTail;
  const signature = cryptoSign(sha256 ? 'sha256' : 'sha1', Buffer.from(policy, host.ascii ? 'latin1' : 'utf8'), a.privateKey);
  return host.origin + path + tail.queryHead + cloudFrontBase64(signature) + tail.queryTail;
}

/**
 * Checks a canned-policy signed CloudFront URL the way CloudFront does: rebuilds the policy from the URL
 * without `Expires`, `Signature`, `Key-Pair-Id`, `Hash-Algorithm`, and verifies the signature with the
 * public key (RSA PKCS#1 v1.5 or DER ECDSA, SHA-1 or SHA-256). Used by tests and available to a local
 * edge. It checks the signature, not the clock: compare `expires` with your own clock.
 */
export function verifyCloudFrontUrl(
  url: string,
  publicKey: KeyObject,
  expectedKeyPairId: string,
): { valid: boolean; expires?: number; reason?: string } {
  const q = url.indexOf('?');
  if (q < 0) return { valid: false, reason: 'no query string' };
  const resource = url.slice(0, q);
  const params = new URLSearchParams(url.slice(q + 1));
  for (const name of params.keys()) {
    if (!['Expires', 'Signature', 'Key-Pair-Id', 'Hash-Algorithm'].includes(name)) {
      return { valid: false, reason: `unexpected query parameter ${name}` };
    }
  }
  const expiresText = params.get('Expires') ?? '';
  const expires = Number(expiresText);
  if (!/^\d+$/.test(expiresText)) return { valid: false, reason: 'missing or bad Expires' };
  if (params.get('Key-Pair-Id') !== expectedKeyPairId) return { valid: false, reason: 'unknown Key-Pair-Id' };
  const algo = params.get('Hash-Algorithm');
  const hash = algo === null ? 'sha1' : algo === 'SHA256' ? 'sha256' : undefined;
  if (!hash) return { valid: false, reason: `unsupported Hash-Algorithm ${algo}` };
  const signature = Buffer.from(
    (params.get('Signature') ?? '').replace(/[-_~]/g, (c) => (c === '-' ? '+' : c === '_' ? '=' : '/')),
    'base64',
  );
  const ok = cryptoVerify(hash, Buffer.from(cannedPolicy(resource, expires)), publicKey, signature);
  return ok ? { valid: true, expires } : { valid: false, expires, reason: 'signature does not match' };
}
