/**
 * CloudFront private keys: read from Secrets Manager by ARN (and pinned version), parsed once into a
 * KeyObject, and cached by a CloudFrontKeyCache that its owner builds (each signer instance, VerifyDownload's
 * handler): there is no module-global cache. Parsing a PEM costs about as much as an RSA signature (STACK.md), so the hot
 * path only ever sees the KeyObject.
 *
 * Accepted: RSA 2048 and EC P-256 private keys (PKCS#8, PKCS#1 or SEC1 PEM), which are what CloudFront
 * accepts for signed URLs. The secret holds the PEM as its SecretString; a JSON SecretString with a
 * `privateKey` (or `privateKeyPem`) field and a PEM in SecretBinary are accepted too.
 *
 * Cache lifetime: a config that pins `privateKeySecretVersionId` refers to an immutable secret version,
 * so its key is cached for the life of its cache (the container). An unpinned secret (AWSCURRENT) can be rotated, so
 * it is re-read after `UNPINNED_KEY_TTL_SECONDS` (300 s, the same ceiling the AWS Parameters and Secrets
 * extension uses). Nothing here ever logs or throws key material.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CloudFrontKeyError, asTransientOr, awsErrorName } from './errors';
import { TtlCache } from './ttl-cache';

/**
 * Secrets Manager GetSecretValue, as a function: `sdkGetSecret(client)` over the SDK client, or secrets-fetch.ts
 * `fetchGetSecret()` (a signed fetch, for the signer's bundle). Errors keep the SDK's names.
 */
export type GetSecretValue = (input: { SecretId: string; VersionId?: string }) => Promise<{ SecretString?: string; SecretBinary?: Uint8Array }>;

/** A GetSecretValue over the SDK's client. */
export function sdkGetSecret(client: SecretsManagerClient): GetSecretValue {
  return (input) => client.send(new GetSecretValueCommand(input));
}

export const UNPINNED_KEY_TTL_SECONDS = 300;

/**
 * Parses a PEM private key into a KeyObject. Throws CloudFrontKeyError unless it is an RSA 2048 or an
 * EC P-256 private key. The message never contains the key.
 */
export function parseCloudFrontPrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    // The crypto error can quote the input: keep only its code.
    const code = (err as { code?: string }).code ?? 'unparseable';
    throw new CloudFrontKeyError(`The CloudFront private key is not a readable unencrypted PEM private key (${code})`);
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    if (details.modulusLength !== 2048) {
      throw new CloudFrontKeyError(
        `The CloudFront private key is RSA ${details.modulusLength ?? '?'}; CloudFront signed URLs need RSA 2048 or EC P-256`,
      );
    }
    return key;
  }
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== 'prime256v1') {
      throw new CloudFrontKeyError(
        `The CloudFront private key is EC on curve ${details.namedCurve ?? '?'}; CloudFront signed URLs need EC P-256 (prime256v1) or RSA 2048`,
      );
    }
    return key;
  }
  throw new CloudFrontKeyError(
    `The CloudFront private key is of type ${key.asymmetricKeyType ?? 'unknown'}; CloudFront signed URLs need RSA 2048 or EC P-256`,
  );
}

/** Extracts the PEM from a secret value: a bare PEM, JSON `{privateKey}` / `{privateKeyPem}`, or binary PEM. */
export function pemFromSecretValue(secretString: string | undefined, secretBinary: Uint8Array | undefined): string {
  const text = secretString ?? (secretBinary ? Buffer.from(secretBinary).toString('utf8') : undefined);
  if (!text) throw new CloudFrontKeyError('The CloudFront key secret is empty');
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as Record<string, unknown>;
      const pem = parsed.privateKey ?? parsed.privateKeyPem;
      if (typeof pem === 'string') return pem;
    } catch {
      // fall through to the error below; the text is not echoed
    }
    throw new CloudFrontKeyError('The CloudFront key secret is JSON without a string "privateKey" field');
  }
  return trimmed;
}

export interface CloudFrontKeyCacheDeps {
  getSecret: GetSecretValue;
  /** Injected clock (epoch ms), for the unpinned re-read TTL. Default Date.now. */
  now?: () => number;
}

/**
 * Parsed CloudFront private keys by secret ARN and version, owned by whoever builds it (one per signer
 * instance, one per VerifyDownload container): no module-global state. Concurrent callers share one
 * GetSecretValue (ttl-cache.ts). A pinned version is kept for the cache's life, AWSCURRENT for
 * UNPINNED_KEY_TTL_SECONDS from the start of its read; a failure is not cached, so the next call retries.
 */
export class CloudFrontKeyCache {
  private readonly cache: TtlCache<{ key: KeyObject; pinned: boolean }>;

  constructor(private readonly deps: CloudFrontKeyCacheDeps) {
    this.cache = new TtlCache({
      now: deps.now ?? Date.now,
      freshUntil: (v, startedMs) => (v.pinned ? Number.POSITIVE_INFINITY : startedMs + UNPINNED_KEY_TTL_SECONDS * 1000),
    });
  }

  /**
   * The parsed key behind `arn` (at `versionId` when pinned). Throws CloudFrontKeyError when the secret is
   * missing, not readable by this function, or not an RSA 2048 / EC P-256 key; TransientError on throttling/5xx.
   */
  async get(arn: string, versionId?: string): Promise<KeyObject> {
    const cached = await this.cache.get(`${arn}|${versionId ?? 'AWSCURRENT'}`, async () => ({
      key: await readCloudFrontKey(this.deps.getSecret, arn, versionId),
      pinned: versionId !== undefined,
    }));
    return cached.key;
  }

  /** GetSecretValue calls made so far, for benchmarks and tests. */
  get getSecretValueCalls(): number {
    return this.cache.stats.loads;
  }
}

/**
 * One GetSecretValue and parse, uncached (CloudFrontKeyCache caches it). Throws as CloudFrontKeyCache.get.
 */
export async function readCloudFrontKey(getSecret: GetSecretValue, arn: string, versionId?: string): Promise<KeyObject> {
  let out;
  try {
    out = await getSecret(versionId === undefined ? { SecretId: arn } : { SecretId: arn, VersionId: versionId });
  } catch (err) {
    const name = awsErrorName(err);
    if (name === 'ResourceNotFoundException' || name === 'AccessDeniedException' || name === 'DecryptionFailure') {
      throw new CloudFrontKeyError(
        `Cannot read the CloudFront key secret ${arn}${versionId ? ` (version ${versionId})` : ''}: ${name}`,
        { cause: err },
      );
    }
    throw asTransientOr(err, 'Secrets Manager GetSecretValue');
  }
  return parseCloudFrontPrivateKey(pemFromSecretValue(out.SecretString, out.SecretBinary));
}
