/**
 * CloudFront private keys: read from Secrets Manager by ARN (and pinned version), parsed once into a
 * KeyObject, and cached. Parsing a PEM costs about as much as an RSA signature (STACK.md), so the hot
 * path only ever sees the KeyObject.
 *
 * Accepted: RSA 2048 and EC P-256 private keys (PKCS#8, PKCS#1 or SEC1 PEM), which are what CloudFront
 * accepts for signed URLs. The secret holds the PEM as its SecretString; a JSON SecretString with a
 * `privateKey` (or `privateKeyPem`) field and a PEM in SecretBinary are accepted too.
 *
 * Cache lifetime: a config that pins `privateKeySecretVersionId` refers to an immutable secret version,
 * so its key is cached for the life of the container. An unpinned secret (AWSCURRENT) can be rotated, so
 * it is re-read after `UNPINNED_KEY_TTL_SECONDS` (300 s, the same ceiling the AWS Parameters and Secrets
 * extension uses). Nothing here ever logs or throws key material.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CloudFrontKeyError, asTransientOr, awsErrorName } from './errors';

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

interface KeyEntry {
  key: Promise<KeyObject>;
  /** Epoch ms after which an unpinned key is re-read; Infinity for pinned versions. */
  freshUntil: number;
}

const keyCache = new Map<string, KeyEntry>();

/** Counters for benchmarks and tests. */
export const cloudFrontKeyStats = { getSecretValueCalls: 0 };

/** Empties the key cache and the counters (tests and benchmarks). */
export function clearCloudFrontKeyCache(): void {
  keyCache.clear();
  cloudFrontKeyStats.getSecretValueCalls = 0;
}

export interface LoadCloudFrontKeyOptions {
  /** Injected clock (ms), for the unpinned re-read TTL. */
  now?: () => number;
}

/**
 * The parsed CloudFront private key behind `arn` (at `versionId` when pinned), read once and cached.
 * Concurrent callers share one GetSecretValue. Throws CloudFrontKeyError when the secret is missing,
 * not readable by this function, or not an RSA 2048 / EC P-256 key; TransientError on throttling/5xx.
 * A failure is not cached, so the next call retries.
 */
export function loadCloudFrontKey(
  getSecret: GetSecretValue,
  arn: string,
  versionId?: string,
  options: LoadCloudFrontKeyOptions = {},
): Promise<KeyObject> {
  const now = options.now ?? Date.now;
  const cacheKey = `${arn}|${versionId ?? 'AWSCURRENT'}`;
  const entry = keyCache.get(cacheKey);
  if (entry && entry.freshUntil > now()) return entry.key;
  const key = fetchKey(getSecret, arn, versionId);
  const fresh: KeyEntry = {
    key,
    freshUntil: versionId ? Number.POSITIVE_INFINITY : now() + UNPINNED_KEY_TTL_SECONDS * 1000,
  };
  keyCache.set(cacheKey, fresh);
  key.catch(() => {
    if (keyCache.get(cacheKey) === fresh) keyCache.delete(cacheKey);
  });
  return key;
}

async function fetchKey(getSecret: GetSecretValue, arn: string, versionId?: string): Promise<KeyObject> {
  cloudFrontKeyStats.getSecretValueCalls += 1;
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
