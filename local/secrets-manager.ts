/**
 * Secrets Manager stand-in (JSON 1.1): CreateSecret, GetSecretValue (VersionId / VersionStage),
 * PutSecretValue (AWSCURRENT moves, the previous current becomes AWSPREVIOUS), DescribeSecret,
 * DeleteSecret (scheduled with RecoveryWindowInDays 7-30, refused when already scheduled; or forced), ListSecrets. Secrets live in the caller's account; a full ARN
 * reaches a secret of another account (resource policies are not evaluated).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsError } from './aws-protocol';
import { REGION, type Credential } from './identity';
import { epoch, str, type JsonOperation } from './json-service';

interface Version {
  id: string;
  string?: string;
  binary?: string;
  stages: Set<string>;
  createdAt: Date;
}

interface Secret {
  arn: string;
  name: string;
  accountId: string;
  description?: string;
  tags: { Key: string; Value: string }[];
  versions: Map<string, Version>;
  createdAt: Date;
  changedAt: Date;
  deletedAt?: Date;
}

const SUFFIX_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function suffix(): string {
  return Array.from(randomBytes(6), (b) => SUFFIX_CHARS[b % SUFFIX_CHARS.length]).join('');
}

const NOT_FOUND = () => new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.", 400);

export class SecretsStore {
  private readonly secrets = new Map<string, Secret>();

  find(id: string, accountId: string): Secret {
    if (id.startsWith('arn:')) {
      const exact = this.secrets.get(id);
      if (exact) return exact;
      // a partial ARN (without the random suffix)
      const partial = [...this.secrets.values()].find((s) => s.arn.slice(0, -7) === id);
      if (partial) return partial;
      throw NOT_FOUND();
    }
    const byName = [...this.secrets.values()].find((s) => s.accountId === accountId && s.name === id);
    if (!byName) throw NOT_FOUND();
    return byName;
  }

  private live(id: string, accountId: string): Secret {
    const s = this.find(id, accountId);
    if (s.deletedAt) {
      throw new AwsError('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion.", 400);
    }
    return s;
  }

  private addVersion(s: Secret, input: Record<string, unknown>): Version {
    const id = typeof input.ClientRequestToken === 'string' ? input.ClientRequestToken : randomUUID();
    const existing = s.versions.get(id);
    if (existing) {
      if (existing.string !== input.SecretString || existing.binary !== input.SecretBinary) {
        throw new AwsError('ResourceExistsException', `A version with ID ${id} already exists for this secret.`, 400);
      }
      return existing;
    }
    if (input.SecretString === undefined && input.SecretBinary === undefined) {
      throw new AwsError('InvalidRequestException', 'You must provide either SecretString or SecretBinary.', 400);
    }
    const text = typeof input.SecretString === 'string' ? input.SecretString : String(input.SecretBinary ?? '');
    if (Buffer.byteLength(text) > 65536) throw new AwsError('ValidationException', 'SecretString must be at most 65536 bytes', 400);
    const stages = new Set(Array.isArray(input.VersionStages) ? (input.VersionStages as string[]) : ['AWSCURRENT']);
    if (stages.has('AWSCURRENT')) {
      for (const v of s.versions.values()) {
        v.stages.delete('AWSPREVIOUS');
      }
      for (const v of s.versions.values()) {
        if (v.stages.delete('AWSCURRENT')) v.stages.add('AWSPREVIOUS');
      }
    }
    const v: Version = {
      id,
      string: typeof input.SecretString === 'string' ? input.SecretString : undefined,
      binary: typeof input.SecretBinary === 'string' ? input.SecretBinary : undefined,
      stages,
      createdAt: new Date(),
    };
    s.versions.set(id, v);
    s.changedAt = new Date();
    return v;
  }

  operations(): Record<string, JsonOperation> {
    return {
      CreateSecret: (input, caller: Credential) => {
        const name = str(input, 'Name');
        if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
          throw new AwsError('ValidationException', 'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!', 400);
        }
        const account = caller.principal.accountId;
        const clash = [...this.secrets.values()].find((s) => s.accountId === account && s.name === name);
        if (clash) {
          if (clash.deletedAt) {
            throw new AwsError('InvalidRequestException', 'You can\'t create this secret because a secret with this name is already scheduled for deletion.', 400);
          }
          throw new AwsError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`, 400);
        }
        const now = new Date();
        const s: Secret = {
          arn: `arn:aws:secretsmanager:${REGION}:${account}:secret:${name}-${suffix()}`,
          name,
          accountId: account,
          description: typeof input.Description === 'string' ? input.Description : undefined,
          tags: Array.isArray(input.Tags) ? (input.Tags as Secret['tags']) : [],
          versions: new Map(),
          createdAt: now,
          changedAt: now,
        };
        let version: Version | undefined;
        if (input.SecretString !== undefined || input.SecretBinary !== undefined) version = this.addVersion(s, input);
        this.secrets.set(s.arn, s);
        return { ARN: s.arn, Name: s.name, VersionId: version?.id };
      },
      PutSecretValue: (input, caller) => {
        const s = this.live(str(input, 'SecretId'), caller.principal.accountId);
        const v = this.addVersion(s, input);
        return { ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: [...v.stages] };
      },
      GetSecretValue: (input, caller) => {
        const s = this.live(str(input, 'SecretId'), caller.principal.accountId);
        const versionId = str(input, 'VersionId', false);
        const stage = str(input, 'VersionStage', false) || (versionId ? '' : 'AWSCURRENT');
        let v: Version | undefined;
        if (versionId) {
          v = s.versions.get(versionId);
          if (v && stage && !v.stages.has(stage)) {
            throw new AwsError('InvalidRequestException', `You provided a VersionStage that is not associated to the provided VersionId.`, 400);
          }
        } else {
          v = [...s.versions.values()].find((x) => x.stages.has(stage));
        }
        if (!v) {
          throw new AwsError(
            'ResourceNotFoundException',
            `Secrets Manager can't find the specified secret value for ${versionId ? `VersionId: ${versionId}` : `staging label: ${stage}`}`,
            400,
          );
        }
        return {
          ARN: s.arn,
          Name: s.name,
          VersionId: v.id,
          SecretString: v.string,
          SecretBinary: v.binary,
          VersionStages: [...v.stages],
          CreatedDate: epoch(v.createdAt),
        };
      },
      DescribeSecret: (input, caller) => {
        const s = this.find(str(input, 'SecretId'), caller.principal.accountId);
        return {
          ARN: s.arn,
          Name: s.name,
          Description: s.description,
          CreatedDate: epoch(s.createdAt),
          LastChangedDate: epoch(s.changedAt),
          DeletedDate: s.deletedAt ? epoch(s.deletedAt) : undefined,
          Tags: s.tags,
          VersionIdsToStages: Object.fromEntries(
            [...s.versions.values()].filter((v) => v.stages.size > 0).map((v) => [v.id, [...v.stages]]),
          ),
        };
      },
      ListSecrets: (_input, caller) => ({
        SecretList: [...this.secrets.values()]
          .filter((s) => s.accountId === caller.principal.accountId && !s.deletedAt)
          .map((s) => ({ ARN: s.arn, Name: s.name, Description: s.description, CreatedDate: epoch(s.createdAt), LastChangedDate: epoch(s.changedAt) })),
      }),
      DeleteSecret: (input, caller) => {
        const s = this.find(str(input, 'SecretId'), caller.principal.accountId);
        const force = input.ForceDeleteWithoutRecovery === true;
        const days = typeof input.RecoveryWindowInDays === 'number' ? input.RecoveryWindowInDays : 30;
        if (force && input.RecoveryWindowInDays !== undefined) {
          throw new AwsError('InvalidParameterException', 'You can\'t use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.', 400);
        }
        if (!force && (days < 7 || days > 30)) {
          throw new AwsError('InvalidParameterException', 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).', 400);
        }
        // Like Secrets Manager: scheduling a secret that is already scheduled is refused (the first date stands).
        if (s.deletedAt && !force) {
          throw new AwsError('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion.", 400);
        }
        const now = new Date();
        if (force) this.secrets.delete(s.arn);
        else s.deletedAt = now;
        return { ARN: s.arn, Name: s.name, DeletionDate: epoch(force ? now : new Date(now.getTime() + days * 86_400_000)) };
      },
      RestoreSecret: (input, caller) => {
        const s = this.find(str(input, 'SecretId'), caller.principal.accountId);
        s.deletedAt = undefined;
        return { ARN: s.arn, Name: s.name };
      },
    };
  }
}
