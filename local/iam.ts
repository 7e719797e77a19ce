/**
 * IAM stand-in (Query protocol, XML like AWS): roles with trust policies, inline policies, tags,
 * permissions boundary and path, in two accounts. Role names are unique per account ignoring case.
 *
 * Like IAM, a trust policy whose principal names a role that does not exist is refused with
 * MalformedPolicyDocument "Invalid principal in policy", and a role ARN in a principal is bound to the
 * role's unique id when the policy is saved: a role deleted and recreated under the same name is no
 * longer trusted (the policy must be saved again).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsError, queryError, queryList, queryResponse, send, type XmlValue } from './aws-protocol';
import { readQueryRequest, uniqueId, type KeyRegistry } from './identity';
import { awsPrincipals, evaluate, parsePolicy, type PolicyDocument } from './policy';
import type { Principal } from './identity';

const XMLNS = 'https://iam.amazonaws.com/doc/2010-05-08/';

export interface Role {
  accountId: string;
  roleName: string;
  path: string;
  roleId: string;
  arn: string;
  createDate: Date;
  /** When IAM's eventual consistency lets others see it (see IamStore's `propagationMs`). */
  visibleAt: Date;
  description?: string;
  maxSessionDuration: number;
  assumeRolePolicyDocument: string;
  trust: PolicyDocument;
  /** Role ARNs named as principals, bound to the unique id they had when the policy was saved. */
  trustBindings: Map<string, string>;
  permissionsBoundary?: string;
  tags: Map<string, string>;
  inlinePolicies: Map<string, string>;
}

const ROLE_NAME_RE = /^[\w+=,.@-]{1,64}$/;
const PATH_RE = /^(\/|\/[\x21-\x7e]+\/)$/;
const TAG_CHARS_RE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const ROLE_ARN_RE = /^arn:aws:iam::(\d{12}):role\/(?:(.*)\/)?([^/]+)$/;
const USER_ARN_RE = /^arn:aws:iam::(\d{12}):user\/(?:(.*)\/)?([^/]+)$/;

export class IamStore {
  private readonly roles = new Map<string, Map<string, Role>>();
  private readonly users = new Set<string>();
  private readonly managedPolicies = new Set<string>();

  /**
   * `propagationMs` models IAM's eventual consistency: a role created through the API is not valid as a
   * principal ("Invalid principal in policy") and cannot be assumed (AccessDenied) until that long after
   * its creation, by `clock`. Default 0 (immediately visible).
   */
  constructor(
    readonly accounts: string[],
    private readonly opts: { clock?: () => Date; propagationMs?: number } = {},
  ) {
    for (const a of accounts) this.roles.set(a, new Map());
  }

  addUserArn(arn: string): void {
    this.users.add(arn);
  }

  addManagedPolicy(arn: string): void {
    this.managedPolicies.add(arn);
  }

  private account(accountId: string): Map<string, Role> {
    const a = this.roles.get(accountId);
    if (!a) throw new AwsError('NoSuchEntity', `The account ${accountId} does not exist.`, 404);
    return a;
  }

  private now(): Date {
    return this.opts.clock?.() ?? new Date();
  }

  /** Whether IAM has "propagated" the role: usable as a principal and assumable. */
  propagated(role: Role): boolean {
    return this.now().getTime() >= role.visibleAt.getTime();
  }

  findRole(accountId: string, roleName: string): Role | undefined {
    return this.roles.get(accountId)?.get(roleName.toLowerCase());
  }

  getRole(accountId: string, roleName: string): Role {
    const r = this.findRole(accountId, roleName);
    if (!r) throw new AwsError('NoSuchEntity', `The role with name ${roleName} cannot be found.`, 404);
    return r;
  }

  /** The role an ARN names (path included), or undefined. */
  roleByArn(arn: string): Role | undefined {
    const m = ROLE_ARN_RE.exec(arn);
    if (!m) return undefined;
    const r = this.findRole(m[1]!, m[3]!);
    if (!r) return undefined;
    const path = m[2] === undefined ? '/' : `/${m[2]}/`;
    return r.path === path ? r : undefined;
  }

  /** Validates the principals of a trust policy and binds role ARNs to their unique ids. */
  checkTrust(text: string): { doc: PolicyDocument; bindings: Map<string, string> } {
    const doc = parsePolicy(text);
    const bindings = new Map<string, string>();
    for (const entry of awsPrincipals(doc)) {
      const invalid = () =>
        new AwsError('MalformedPolicyDocument', `Invalid principal in policy: "AWS":"${entry}"`, 400);
      if (entry === '*' || /^\d{12}$/.test(entry) || /^arn:aws:iam::\d{12}:root$/.test(entry)) continue;
      if (entry.includes('*') || entry.includes('?')) throw invalid();
      if (ROLE_ARN_RE.test(entry)) {
        const role = this.roleByArn(entry);
        if (!role || !this.propagated(role)) throw invalid();
        bindings.set(entry, role.roleId);
        continue;
      }
      if (USER_ARN_RE.test(entry) && this.users.has(entry)) continue;
      throw invalid();
    }
    for (const s of doc.Statement) {
      const actions = Array.isArray(s.Action) ? s.Action : [s.Action ?? ''];
      if (s.Resource !== undefined) throw new AwsError('MalformedPolicyDocument', 'Has prohibited field Resource', 400);
      if (s.Principal === undefined && s.NotPrincipal === undefined) {
        throw new AwsError('MalformedPolicyDocument', 'Missing required field Principal', 400);
      }
      if (actions.some((a) => a && !/^(sts:|\*)/i.test(a))) {
        throw new AwsError('MalformedPolicyDocument', 'AssumeRole policy may only specify STS AssumeRole actions.', 400);
      }
    }
    return { doc, bindings };
  }

  createRole(
    accountId: string,
    p: {
      roleName: string;
      path?: string;
      trust: string;
      description?: string;
      maxSessionDuration?: number;
      permissionsBoundary?: string;
      tags?: { Key: string; Value: string }[];
    },
    /** Roles created through the API propagate (see the constructor); the stack's own are visible at once. */
    viaApi = false,
  ): Role {
    if (!ROLE_NAME_RE.test(p.roleName)) {
      throw new AwsError('ValidationError', `1 validation error detected: Value '${p.roleName}' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`, 400);
    }
    const path = p.path ?? '/';
    if (!PATH_RE.test(path) || path.length > 512) {
      throw new AwsError('ValidationError', `1 validation error detected: Value '${path}' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)`, 400);
    }
    const maxSession = p.maxSessionDuration ?? 3600;
    if (maxSession < 3600 || maxSession > 43200) {
      throw new AwsError('ValidationError', `1 validation error detected: Value '${maxSession}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200`, 400);
    }
    const tags = p.tags ?? [];
    if (tags.length > 50) throw new AwsError('LimitExceeded', 'Cannot exceed quota for TagsPerRole: 50', 409);
    for (const t of tags) {
      if (!t.Key || t.Key.length > 128 || (t.Value ?? '').length > 256) {
        throw new AwsError('InvalidInput', `Invalid tag: ${JSON.stringify(t.Key)}`, 400);
      }
      // IAM's tagKeyType / tagValueType pattern: a comma (valid in role names) is refused in tags.
      if (!TAG_CHARS_RE.test(t.Key) || !TAG_CHARS_RE.test(t.Value ?? '')) {
        throw new AwsError(
          'ValidationError',
          `1 validation error detected: Value at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`,
          400,
        );
      }
    }
    const roles = this.account(accountId);
    if (roles.has(p.roleName.toLowerCase())) {
      throw new AwsError('EntityAlreadyExists', `Role with name ${p.roleName} already exists.`, 409);
    }
    if (p.permissionsBoundary) this.checkBoundary(p.permissionsBoundary);
    const { doc, bindings } = this.checkTrust(p.trust);
    const roleId = uniqueId('AROA');
    const role: Role = {
      accountId,
      roleName: p.roleName,
      path,
      roleId,
      arn: `arn:aws:iam::${accountId}:role${path}${p.roleName}`,
      createDate: this.now(),
      visibleAt: new Date(this.now().getTime() + (viaApi ? (this.opts.propagationMs ?? 0) : 0)),
      description: p.description,
      maxSessionDuration: maxSession,
      assumeRolePolicyDocument: p.trust,
      trust: doc,
      trustBindings: bindings,
      permissionsBoundary: p.permissionsBoundary,
      tags: new Map(tags.map((t) => [t.Key, t.Value ?? ''])),
      inlinePolicies: new Map(),
    };
    roles.set(p.roleName.toLowerCase(), role);
    return role;
  }

  private checkBoundary(arn: string): void {
    if (/^arn:aws:iam::aws:policy\//.test(arn) || this.managedPolicies.has(arn)) return;
    throw new AwsError('NoSuchEntity', `Scope ARN: ${arn} does not exist or is not attachable.`, 404);
  }

  updateTrust(accountId: string, roleName: string, text: string): void {
    const role = this.getRole(accountId, roleName);
    const { doc, bindings } = this.checkTrust(text);
    role.assumeRolePolicyDocument = text;
    role.trust = doc;
    role.trustBindings = bindings;
  }

  putRolePolicy(accountId: string, roleName: string, policyName: string, text: string): void {
    const role = this.getRole(accountId, roleName);
    if (!/^[\w+=,.@-]{1,128}$/.test(policyName)) {
      throw new AwsError('ValidationError', `1 validation error detected: Value '${policyName}' at 'policyName' failed to satisfy constraint`, 400);
    }
    const doc = parsePolicy(text);
    if (doc.Statement.some((s) => s.Principal !== undefined)) {
      throw new AwsError('MalformedPolicyDocument', 'Policy document should not specify a principal.', 400);
    }
    role.inlinePolicies.set(policyName, text);
  }

  deleteRole(accountId: string, roleName: string): void {
    const role = this.getRole(accountId, roleName);
    if (role.inlinePolicies.size > 0) {
      throw new AwsError('DeleteConflict', 'Cannot delete entity, must delete policies first.', 409);
    }
    this.account(accountId).delete(roleName.toLowerCase());
  }

  /**
   * The caller's identity side for `action` on `resource`: a role session whose role has inline policies
   * needs one of them to allow it (an explicit Deny wins). Users, and roles without inline policies, are
   * not checked: the stack does not model managed policies. A session of a role deleted since is refused.
   */
  identityAllows(principal: Principal, action: string, resource: string): boolean {
    if (principal.kind !== 'assumed-role' || !principal.role) return true;
    const role = this.roleByArn(principal.role.arn);
    if (!role || role.roleId !== principal.role.roleId) return false;
    if (role.inlinePolicies.size === 0) return true;
    let allowed = false;
    for (const text of role.inlinePolicies.values()) {
      const r = evaluate(parsePolicy(text), action, { resource, context: {} });
      if (r === 'deny') return false;
      if (r === 'allow') allowed = true;
    }
    return allowed;
  }

  listRoles(accountId: string, pathPrefix = '/'): Role[] {
    return [...this.account(accountId).values()]
      .filter((r) => r.path.startsWith(pathPrefix))
      .sort((a, b) => a.roleName.localeCompare(b.roleName));
  }
}

function roleXml(r: Role, withTags: boolean): XmlValue {
  return {
    Path: r.path,
    RoleName: r.roleName,
    RoleId: r.roleId,
    Arn: r.arn,
    CreateDate: r.createDate,
    // IAM answers policy documents URL-encoded (RFC 3986), and the SDK hands them over as they are.
    AssumeRolePolicyDocument: encodeURIComponent(r.assumeRolePolicyDocument),
    Description: r.description,
    MaxSessionDuration: r.maxSessionDuration,
    PermissionsBoundary: r.permissionsBoundary
      ? { PermissionsBoundaryType: 'PermissionsBoundaryPolicy', PermissionsBoundaryArn: r.permissionsBoundary }
      : undefined,
    Tags: withTags && r.tags.size > 0 ? [...r.tags].map(([Key, Value]) => ({ Key, Value })) : undefined,
    RoleLastUsed: withTags ? {} : undefined,
  };
}

function required(params: URLSearchParams, name: string): string {
  const v = params.get(name);
  if (v === null || v === '') {
    throw new AwsError('ValidationError', `1 validation error detected: Value null at '${name[0]!.toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`, 400);
  }
  return v;
}

/** The IAM HTTP handler. */
export function iamHandler(store: IamStore, keys: KeyRegistry) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const { credential, action, params } = await readQueryRequest(keys, req);
      const account = credential.principal.accountId;
      const result = handleAction(store, account, action, params);
      send(res, 200, queryResponse(action, XMLNS, result), { 'content-type': 'text/xml' });
    } catch (err) {
      const e = err instanceof AwsError ? err : new AwsError('ServiceFailure', (err as Error).message, 500);
      send(res, e.status, queryError(XMLNS, e), { 'content-type': 'text/xml' });
    }
  };
}

function handleAction(store: IamStore, account: string, action: string, params: URLSearchParams): XmlValue {
  switch (action) {
    case 'CreateRole': {
      const role = store.createRole(account, {
        roleName: required(params, 'RoleName'),
        path: params.get('Path') ?? undefined,
        trust: required(params, 'AssumeRolePolicyDocument'),
        description: params.get('Description') ?? undefined,
        maxSessionDuration: params.get('MaxSessionDuration') ? Number(params.get('MaxSessionDuration')) : undefined,
        permissionsBoundary: params.get('PermissionsBoundary') ?? undefined,
        tags: queryList(params, 'Tags').map((t) => ({ Key: t.Key ?? '', Value: t.Value ?? '' })),
      }, true);
      return { Role: roleXml(role, true) };
    }
    case 'GetRole':
      return { Role: roleXml(store.getRole(account, required(params, 'RoleName')), true) };
    case 'ListRoles': {
      const roles = store.listRoles(account, params.get('PathPrefix') ?? '/');
      return { Roles: roles.map((r) => roleXml(r, false)), IsTruncated: false };
    }
    case 'UpdateAssumeRolePolicy':
      store.updateTrust(account, required(params, 'RoleName'), required(params, 'PolicyDocument'));
      return undefined;
    case 'PutRolePolicy':
      store.putRolePolicy(account, required(params, 'RoleName'), required(params, 'PolicyName'), required(params, 'PolicyDocument'));
      return undefined;
    case 'GetRolePolicy': {
      const role = store.getRole(account, required(params, 'RoleName'));
      const name = required(params, 'PolicyName');
      const doc = role.inlinePolicies.get(name);
      if (doc === undefined) {
        throw new AwsError('NoSuchEntity', `The role policy with name ${name} cannot be found.`, 404);
      }
      return { RoleName: role.roleName, PolicyName: name, PolicyDocument: encodeURIComponent(doc) };
    }
    case 'DeleteRolePolicy': {
      const role = store.getRole(account, required(params, 'RoleName'));
      const name = required(params, 'PolicyName');
      if (!role.inlinePolicies.delete(name)) {
        throw new AwsError('NoSuchEntity', `The role policy with name ${name} cannot be found.`, 404);
      }
      return undefined;
    }
    case 'ListRolePolicies': {
      const role = store.getRole(account, required(params, 'RoleName'));
      return { PolicyNames: [...role.inlinePolicies.keys()].sort(), IsTruncated: false };
    }
    case 'TagRole': {
      const role = store.getRole(account, required(params, 'RoleName'));
      const tags = queryList(params, 'Tags');
      if (new Set([...role.tags.keys(), ...tags.map((t) => t.Key)]).size > 50) {
        throw new AwsError('LimitExceeded', 'Cannot exceed quota for TagsPerRole: 50', 409);
      }
      for (const t of tags) role.tags.set(t.Key ?? '', t.Value ?? '');
      return undefined;
    }
    case 'UntagRole': {
      const role = store.getRole(account, required(params, 'RoleName'));
      for (const t of queryList(params, 'TagKeys')) role.tags.delete(t[''] ?? '');
      return undefined;
    }
    case 'ListRoleTags': {
      const role = store.getRole(account, required(params, 'RoleName'));
      return { Tags: [...role.tags].map(([Key, Value]) => ({ Key, Value })), IsTruncated: false };
    }
    case 'PutRolePermissionsBoundary': {
      const role = store.getRole(account, required(params, 'RoleName'));
      role.permissionsBoundary = required(params, 'PermissionsBoundary');
      return undefined;
    }
    case 'DeleteRole':
      store.deleteRole(account, required(params, 'RoleName'));
      return undefined;
    default:
      throw new AwsError('InvalidAction', `Could not find operation ${action} for version 2010-05-08`, 400);
  }
}
