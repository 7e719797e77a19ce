/**
 * STS stand-in (Query protocol): GetCallerIdentity and AssumeRole.
 *
 * AssumeRole evaluates the target role's trust policy for real: Principal AWS (role ARN bound to the
 * role's unique id, account root, account id, user ARN, "*"), Conditions (sts:ExternalId, aws:PrincipalArn,
 * …), several statements, and an explicit Deny wins. A caller that is itself an assumed-role session is
 * role chaining: DurationSeconds > 3600 is a ValidationError, like AWS. When the caller's role has inline
 * policies, they must also allow sts:AssumeRole on the target (identity side); a role without any inline
 * policy is not checked (see docs/local-stack.md, "Limits").
 *
 * Issued keys go into the key registry (and from there into s3rver's) and stop working at Expiration.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsError, queryError, queryResponse, send } from './aws-protocol';
import {
  newAccessKeyId,
  newSecret,
  newSessionToken,
  readQueryRequest,
  type Credential,
  type KeyRegistry,
  type Principal,
} from './identity';
import type { IamStore, Role } from './iam';
import { evaluate, type ConditionContext } from './policy';

const XMLNS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const NAME_RE = /^[\w+=,.@-]*$/;
const EXTERNAL_ID_RE = /^[\w+=,.@:/-]*$/;

export interface AssumeRoleParams {
  roleArn: string;
  roleSessionName: string;
  externalId?: string;
  durationSeconds?: number;
  sourceIdentity?: string;
}

export class Sts {
  constructor(
    private readonly iam: IamStore,
    private readonly keys: KeyRegistry,
  ) {}

  /** AssumeRole as `caller`; throws AwsError like STS. */
  assumeRole(caller: Credential, p: AssumeRoleParams): Credential {
    this.keys.sweep();
    validate(p);
    const principal = caller.principal;
    const denied = () =>
      new AwsError(
        'AccessDenied',
        `User: ${principal.arn} is not authorized to perform: sts:AssumeRole on resource: ${p.roleArn}`,
        403,
      );
    const role = this.iam.roleByArn(p.roleArn);
    if (!role || !this.iam.propagated(role)) throw denied();
    if (!this.trustAllows(role, principal, p)) throw denied();
    if (!this.iam.identityAllows(principal, 'sts:AssumeRole', p.roleArn)) throw denied();
    const chaining = principal.kind === 'assumed-role';
    const duration = p.durationSeconds ?? 3600;
    if (chaining && duration > 3600) {
      throw new AwsError(
        'ValidationError',
        'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.',
        400,
      );
    }
    if (duration > role.maxSessionDuration) {
      throw new AwsError('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.', 400);
    }
    const sessionArn = `arn:aws:sts::${role.accountId}:assumed-role/${role.roleName}/${p.roleSessionName}`;
    const session: Principal = {
      accountId: role.accountId,
      arn: sessionArn,
      userId: `${role.roleId}:${p.roleSessionName}`,
      principalArn: role.arn,
      kind: 'assumed-role',
      role: { name: role.roleName, path: role.path, roleId: role.roleId, arn: role.arn },
      sessionName: p.roleSessionName,
    };
    const now = this.keys.now();
    return this.keys.add({
      accessKeyId: newAccessKeyId(true),
      secretAccessKey: newSecret(),
      sessionToken: newSessionToken(),
      expiresAt: new Date(Math.floor(now.getTime() / 1000) * 1000 + duration * 1000),
      principal: session,
    });
  }

  /** A session for `role` issued without any check: how the stack gives the functions their role credentials. */
  issueSession(role: Role, sessionName: string, durationSeconds: number): Credential {
    const now = this.keys.now();
    return this.keys.add({
      accessKeyId: newAccessKeyId(true),
      secretAccessKey: newSecret(),
      sessionToken: newSessionToken(),
      expiresAt: new Date(now.getTime() + durationSeconds * 1000),
      principal: {
        accountId: role.accountId,
        arn: `arn:aws:sts::${role.accountId}:assumed-role/${role.roleName}/${sessionName}`,
        userId: `${role.roleId}:${sessionName}`,
        principalArn: role.arn,
        kind: 'assumed-role',
        role: { name: role.roleName, path: role.path, roleId: role.roleId, arn: role.arn },
        sessionName,
      },
    });
  }

  private trustAllows(role: Role, principal: Principal, p: AssumeRoleParams): boolean {
    const context: ConditionContext = {
      'sts:ExternalId': p.externalId,
      'aws:PrincipalArn': principal.principalArn,
      'aws:PrincipalAccount': principal.accountId,
      'aws:PrincipalType': principal.kind === 'user' ? 'User' : 'AssumedRole',
      'aws:userid': principal.userId,
      'sts:RoleSessionName': p.roleSessionName,
      'sts:SourceIdentity': p.sourceIdentity,
      'aws:SourceIdentity': p.sourceIdentity,
    };
    const matcher = (entry: string): boolean => {
      if (entry === '*') return true;
      if (/^\d{12}$/.test(entry)) return entry === principal.accountId;
      const root = /^arn:aws:iam::(\d{12}):root$/.exec(entry);
      if (root) return root[1] === principal.accountId;
      const bound = role.trustBindings.get(entry);
      if (bound !== undefined) return principal.kind === 'assumed-role' && principal.role?.roleId === bound;
      return principal.kind === 'user' && entry === principal.arn;
    };
    return evaluate(role.trust, 'sts:AssumeRole', { principal: matcher, context }) === 'allow';
  }
}

function validate(p: AssumeRoleParams): void {
  const problems: string[] = [];
  if (p.roleArn.length < 20 || p.roleArn.length > 2048) {
    problems.push(`Value '${p.roleArn}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20`);
  }
  if (p.roleSessionName.length < 2 || p.roleSessionName.length > 64 || !NAME_RE.test(p.roleSessionName)) {
    problems.push(
      `Value '${p.roleSessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64`,
    );
  }
  if (p.externalId !== undefined && (p.externalId.length < 2 || p.externalId.length > 1224 || !EXTERNAL_ID_RE.test(p.externalId))) {
    problems.push(
      `Value '${p.externalId}' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]* and have length between 2 and 1224`,
    );
  }
  if (p.durationSeconds !== undefined && (!Number.isInteger(p.durationSeconds) || p.durationSeconds < 900 || p.durationSeconds > 43200)) {
    problems.push(
      `Value '${p.durationSeconds}' at 'durationSeconds' failed to satisfy constraint: Member must have value ${p.durationSeconds < 900 ? 'greater than or equal to 900' : 'less than or equal to 43200'}`,
    );
  }
  if (problems.length > 0) {
    throw new AwsError('ValidationError', `${problems.length} validation error${problems.length > 1 ? 's' : ''} detected: ${problems.join('; ')}`, 400);
  }
}

export function stsHandler(sts: Sts, keys: KeyRegistry) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const { credential, action, params } = await readQueryRequest(keys, req);
      let result;
      switch (action) {
        case 'GetCallerIdentity':
          result = { UserId: credential.principal.userId, Account: credential.principal.accountId, Arn: credential.principal.arn };
          break;
        case 'AssumeRole': {
          const duration = params.get('DurationSeconds');
          const issued = sts.assumeRole(credential, {
            roleArn: params.get('RoleArn') ?? '',
            roleSessionName: params.get('RoleSessionName') ?? '',
            externalId: params.get('ExternalId') ?? undefined,
            durationSeconds: duration === null ? undefined : Number(duration),
            sourceIdentity: params.get('SourceIdentity') ?? undefined,
          });
          result = {
            Credentials: {
              AccessKeyId: issued.accessKeyId,
              SecretAccessKey: issued.secretAccessKey,
              SessionToken: issued.sessionToken,
              Expiration: issued.expiresAt,
            },
            AssumedRoleUser: { AssumedRoleId: issued.principal.userId, Arn: issued.principal.arn },
            PackedPolicySize: undefined,
          };
          break;
        }
        default:
          throw new AwsError('InvalidAction', `Could not find operation ${action} for version 2011-06-15`, 400);
      }
      send(res, 200, queryResponse(action, XMLNS, result), { 'content-type': 'text/xml' });
    } catch (err) {
      const e = err instanceof AwsError ? err : new AwsError('InternalFailure', (err as Error).message, 500);
      send(res, e.status, queryError(XMLNS, e), { 'content-type': 'text/xml' });
    }
  };
}
