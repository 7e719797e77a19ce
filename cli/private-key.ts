/**
 * The CloudFront private key support was given: read from a file, checked to be an RSA 2048 or EC P-256
 * private key, and stored in Secrets Manager. The key never leaves this module except as the
 * SecretString of CreateSecret/PutSecretValue; messages never include it.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CreateSecretCommand, DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseCloudFrontPrivateKey, encodeRoleNameForExecution } from '../functions/public';
import { CommandFailure, UsageError } from './io';

export interface LoadedKey {
  pem: string;
  key: KeyObject;
  /** sha256 of the public key (SPKI DER), hex: not secret, names the secret. */
  fingerprint: string;
}

/** Reads and checks the key file. Throws UsageError naming --private-key-file, never echoing the key. */
export async function loadPrivateKeyFile(path: string): Promise<LoadedKey> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`--private-key-file: cannot read ${JSON.stringify(path)} (${code})`);
  }
  let key: KeyObject;
  try {
    key = parseCloudFrontPrivateKey(pem);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new UsageError(`--private-key-file: ${reason}`);
  }
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return { pem, key, fingerprint: createHash('sha256').update(spki).digest('hex') };
}

/**
 * The secret name for a key: `<prefix><orgId>/<roleName>/<fingerprint>`. Deterministic per key, so a
 * double submit of the same onboarding reuses the same secret and version (and the starter sees the same
 * request), while a different key always gets its own secret, never swapping the key under a serving config.
 */
export function secretNameFor(prefix: string, orgId: string, roleName: string, fingerprint: string): string {
  const sep = prefix === '' || prefix.endsWith('/') || prefix.endsWith('-') ? '' : '/';
  return `${prefix}${sep}${orgId}/${encodeRoleNameForExecution(roleName)}/${fingerprint.slice(0, 24)}`;
}

export interface StoredKey {
  arn: string;
  versionId?: string;
  name: string;
  /** False when the secret already existed (a double submit, or a re-onboarding with the same key). */
  created: boolean;
}

/**
 * Stores the key (or finds it already stored) and returns the ARN and the version to pin.
 *
 * Support may create secrets but never read them back (the deployed Support policy denies
 * GetSecretValue), so an existing secret is recognised by its name alone: the name carries the public
 * key's fingerprint, and a private key determines its public key, so the same name means the same key.
 */
export async function storePrivateKey(
  secrets: SecretsManagerClient,
  name: string,
  loaded: LoadedKey,
  context: { orgId: string; roleName: string },
): Promise<StoredKey> {
  try {
    const out = await secrets.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: loaded.pem,
        Description: `CloudFront signing key for binary backend ${context.roleName} of org ${context.orgId} (public key sha256 ${loaded.fingerprint})`,
        Tags: [
          { Key: 'service', Value: 'binary-backends' },
          { Key: 'orgId', Value: context.orgId },
          { Key: 'roleName', Value: context.roleName },
        ],
      }),
    );
    return { arn: out.ARN!, versionId: out.VersionId, name, created: true };
  } catch (err) {
    if ((err as Error).name !== 'ResourceExistsException') throw err;
  }
  const existing = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
  if (existing.DeletedDate) {
    throw new CommandFailure(
      `The secret ${name} for this key is scheduled for deletion. Restore it (aws secretsmanager restore-secret --secret-id ${name}) or use a new key pair.`,
    );
  }
  const current = Object.entries(existing.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'))?.[0];
  return { arn: existing.ARN!, versionId: current, name, created: false };
}
