/**
 * IAM policy documents, as far as the local stack evaluates them: trust policies for sts:AssumeRole
 * (Principal + Condition, Allow and Deny: an explicit Deny wins, like AWS), and identity policies for the
 * one action the stack checks on the caller's side, sts:AssumeRole.
 *
 * Condition operators: String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,Like,NotLike},
 * Arn{Equals,NotEquals,Like,NotLike}, Bool, Null, each optionally `…IfExists`. Any other operator makes
 * the statement not apply (documented limit). Keys: sts:ExternalId, aws:PrincipalArn, aws:PrincipalAccount,
 * aws:PrincipalType, aws:userid, sts:RoleSessionName, aws:SourceIdentity, sts:SourceIdentity.
 */
import { AwsError } from './aws-protocol';

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: '*' | Record<string, string | string[]>;
  NotPrincipal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[] | boolean | number>>;
}

export interface PolicyDocument {
  Version?: string;
  Statement: Statement[];
}

export function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Parses a policy document; MalformedPolicyDocument (400) like IAM for anything it cannot read. */
export function parsePolicy(text: string): PolicyDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new AwsError('MalformedPolicyDocument', 'This policy contains invalid Json', 400);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new AwsError('MalformedPolicyDocument', 'Syntax errors in policy.', 400);
  }
  const d = doc as { Version?: unknown; Statement?: unknown };
  if (d.Version !== undefined && d.Version !== '2012-10-17' && d.Version !== '2008-10-17') {
    throw new AwsError('MalformedPolicyDocument', 'The policy must contain a valid version string', 400);
  }
  const statements = asArray(d.Statement as Statement | Statement[] | undefined);
  if (statements.length === 0) throw new AwsError('MalformedPolicyDocument', 'Syntax errors in policy.', 400);
  for (const s of statements) {
    if (!s || typeof s !== 'object' || (s.Effect !== 'Allow' && s.Effect !== 'Deny')) {
      throw new AwsError('MalformedPolicyDocument', 'Syntax errors in policy.', 400);
    }
    if (s.Action === undefined && s.NotAction === undefined) {
      throw new AwsError('MalformedPolicyDocument', 'Policy statement must contain actions.', 400);
    }
  }
  return { Version: d.Version as string | undefined, Statement: statements };
}

/** Glob with `*` and `?`, case-sensitive unless told otherwise. */
export function globMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const re = new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&')))
      .join('')}$`,
    ignoreCase ? 'is' : 's',
  );
  return re.test(value);
}

/** `sts:AssumeRole` against an Action list (wildcards allowed, case-insensitive like IAM). */
export function actionMatches(statement: Statement, action: string): boolean {
  if (statement.Action !== undefined) return asArray(statement.Action).some((a) => globMatch(a, action, true));
  return !asArray(statement.NotAction).some((a) => globMatch(a, action, true));
}

export function resourceMatches(statement: Statement, resource: string): boolean {
  if (statement.Resource !== undefined) return asArray(statement.Resource).some((r) => globMatch(r, resource));
  if (statement.NotResource !== undefined) return !asArray(statement.NotResource).some((r) => globMatch(r, resource));
  return true; // trust policies have no Resource
}

/** Context keys present in the request (missing keys are absent, which matters for negated operators and Null). */
export type ConditionContext = Record<string, string | undefined>;

function conditionHolds(operatorRaw: string, key: string, expected: string[], ctx: ConditionContext): boolean | 'unsupported' {
  let operator = operatorRaw;
  let ifExists = false;
  if (operator.endsWith('IfExists')) {
    ifExists = true;
    operator = operator.slice(0, -'IfExists'.length);
  }
  if (operator.includes(':')) return 'unsupported'; // ForAnyValue:/ForAllValues: set operators
  const actualKey = Object.keys(ctx).find((k) => k.toLowerCase() === key.toLowerCase());
  const actual = actualKey === undefined ? undefined : ctx[actualKey];
  if (operator === 'Null') {
    const wantNull = expected.some((e) => String(e).toLowerCase() === 'true');
    return wantNull ? actual === undefined : actual !== undefined;
  }
  if (actual === undefined) {
    if (ifExists) return true;
    return operator.includes('Not');
  }
  switch (operator) {
    case 'StringEquals':
    case 'ArnEquals':
      return expected.some((e) => e === actual);
    case 'StringNotEquals':
    case 'ArnNotEquals':
      return !expected.some((e) => e === actual);
    case 'StringEqualsIgnoreCase':
      return expected.some((e) => e.toLowerCase() === actual.toLowerCase());
    case 'StringNotEqualsIgnoreCase':
      return !expected.some((e) => e.toLowerCase() === actual.toLowerCase());
    case 'StringLike':
    case 'ArnLike':
      return expected.some((e) => globMatch(e, actual));
    case 'StringNotLike':
    case 'ArnNotLike':
      return !expected.some((e) => globMatch(e, actual));
    case 'Bool':
      return expected.some((e) => String(e).toLowerCase() === actual.toLowerCase());
    default:
      return 'unsupported';
  }
}

/** All conditions of a statement hold (AND across operators and keys, OR across values). */
export function conditionsHold(statement: Statement, ctx: ConditionContext): boolean {
  for (const [operator, block] of Object.entries(statement.Condition ?? {})) {
    for (const [key, value] of Object.entries(block ?? {})) {
      const expected = asArray(value as string | string[]).map(String);
      const r = conditionHolds(operator, key, expected, ctx);
      if (r !== true) return false;
    }
  }
  return true;
}

/** How a principal entry in a policy names someone. */
export type PrincipalMatcher = (entry: string) => boolean;

/** Evaluates a statement list: 'deny' on a matching Deny, 'allow' on a matching Allow, else 'implicit'. */
export function evaluate(
  doc: PolicyDocument,
  action: string,
  opts: { principal?: PrincipalMatcher; resource?: string; context: ConditionContext },
): 'allow' | 'deny' | 'implicit' {
  let allowed = false;
  for (const s of doc.Statement) {
    if (!actionMatches(s, action)) continue;
    if (opts.resource !== undefined && !resourceMatches(s, opts.resource)) continue;
    if (opts.principal) {
      if (s.NotPrincipal !== undefined) continue; // not supported: never matches
      if (!principalMatches(s.Principal, opts.principal)) continue;
    }
    if (!conditionsHold(s, opts.context)) continue;
    if (s.Effect === 'Deny') return 'deny';
    allowed = true;
  }
  return allowed ? 'allow' : 'implicit';
}

function principalMatches(principal: Statement['Principal'], matcher: PrincipalMatcher): boolean {
  if (principal === undefined) return false;
  if (principal === '*') return matcher('*');
  return asArray(principal.AWS).some((entry) => matcher(entry));
}

/** The AWS principal entries of every statement (for "Invalid principal in policy" validation). */
export function awsPrincipals(doc: PolicyDocument): string[] {
  return doc.Statement.flatMap((s) => (s.Principal === undefined || s.Principal === '*' ? [] : asArray(s.Principal.AWS)));
}
