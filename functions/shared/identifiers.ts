/**
 * Names derived from an org ID and a role name. Pure functions: the same inputs always give the same
 * names, which is what makes the workflow idempotent and the starter's dedupe possible.
 */

/** `binary_backend_<orgId>_<roleName>`: at most 15 + 36 + 1 + 10 = 62 characters, within IAM's 64. */
export function platformRoleName(orgId: string, roleName: string): string {
  return `binary_backend_${orgId}_${roleName}`;
}

/** The platform role's ARN in the platform account. */
export function platformRoleArn(partition: string, platformAccountId: string, orgId: string, roleName: string): string {
  return `arn:${partition}:iam::${platformAccountId}:role/${platformRoleName(orgId, roleName)}`;
}

/** The external ID the customer's trust policy must require: the org ID itself (unique per customer, not a secret). */
export function externalIdFor(orgId: string): string {
  return orgId;
}

/**
 * Role names may contain `+ = , . @`, which execution names may not (only `[A-Za-z0-9_-]` is safe for
 * CloudWatch Logs). Each of those, and `_` itself, becomes `_` plus two hex digits, which keeps the
 * encoding one-to-one: `a.b` -> `a_2eb`, `a_b` -> `a_5fb`. At most 3 x 10 = 30 characters.
 */
export function encodeRoleNameForExecution(roleName: string): string {
  return roleName.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `<orgId>-<roleName>-<configVersion>`, at most 36 + 1 + 30 + 1 + 10 = 78 characters. */
export function executionName(orgId: string, roleName: string, configVersion: number): string {
  return `${orgId}-${encodeRoleNameForExecution(roleName)}-${configVersion}`;
}

/** The org's prefix in Peridio's default storage bucket: tenants are isolated by construction. */
export function defaultStoragePrefix(orgId: string): string {
  return `orgs/${orgId}/`;
}

/** Where this execution's canaries live in the customer's bucket: `<prefix>.peridio-verification/<executionName>/`. */
export function canaryPrefix(prefix: string | undefined, execName: string): string {
  return `${prefix ?? ''}.peridio-verification/${execName}/`;
}

/** A RoleSessionName (2-64 chars of `[\w+=,.@-]`) that says who assumed the role and why. */
export function roleSessionName(purpose: string): string {
  const cleaned = `bb-${purpose}`.replace(/[^\w+=,.@-]/g, '-');
  return cleaned.slice(0, 64);
}

/** The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`). */
export function partitionOf(arn: string): string {
  return arn.split(':')[1] ?? 'aws';
}

// ---------------------------------------------------------------------------------------------
// The services' own name patterns (botocore models; aws-facts.md sections 1 and 2). Every value this
// service turns into an IAM role name, an IAM tag or an STS RoleSessionName is checked against them
// before the call, so a bad one is a ValidationError naming the rule, and nothing is created.
// ---------------------------------------------------------------------------------------------

/** IAM `roleNameType`: 1-64 of `[\w+=,.@-]` (`\w` is ASCII here, as in IAM's Java patterns). */
export const IAM_ROLE_NAME_RE = /^[A-Za-z0-9_+=,.@-]{1,64}$/;
/** IAM `tagKeyType` (1-128) and `tagValueType` (0-256): `[\p{L}\p{Z}\p{N}_.:/=+\-@]`. No comma. */
export const IAM_TAG_CHARS_RE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
/** STS `roleSessionNameType`: 2-64 of `[\w+=,.@-]`. */
export const ROLE_SESSION_NAME_RE = /^[A-Za-z0-9_+=,.@-]{2,64}$/;

/** A problem sentence when `name` is not a valid IAM role name, else undefined. */
export function iamRoleNameProblem(name: string): string | undefined {
  return IAM_ROLE_NAME_RE.test(name) ? undefined : `must be 1-64 characters of letters, digits and + = , . @ _ - (IAM role name; got ${JSON.stringify(name)})`;
}

/** A problem sentence when the tag would be refused by IAM (key 1-128, value 0-256, no comma), else undefined. */
export function iamTagProblem(tag: { Key?: string; Value?: string }): string | undefined {
  const key = tag.Key ?? '';
  const value = tag.Value ?? '';
  if (key.length < 1 || key.length > 128 || !IAM_TAG_CHARS_RE.test(key)) {
    return `tag key ${JSON.stringify(key)} must be 1-128 letters, digits, spaces and _ . : / = + - @ (IAM tag key)`;
  }
  if (value.length > 256 || !IAM_TAG_CHARS_RE.test(value)) {
    return `tag ${key}: value ${JSON.stringify(value)} must be at most 256 letters, digits, spaces and _ . : / = + - @ (IAM tag value)`;
  }
  return undefined;
}

/** A problem sentence when `name` is not a valid STS RoleSessionName, else undefined. */
export function roleSessionNameProblem(name: string): string | undefined {
  return ROLE_SESSION_NAME_RE.test(name) ? undefined : `must be 2-64 characters of letters, digits and + = , . @ _ - (STS RoleSessionName; got ${JSON.stringify(name)})`;
}

/**
 * A backend name as an IAM tag value. Role names may contain `,` (IAM role names accept it, so the
 * backend-name contract does) but IAM tag values refuse it, and CreateRole with one invalid tag creates
 * nothing. Refusing `,` would turn away names IAM itself accepts, so the tag value is encoded instead:
 * `,` becomes `:`, which tag values accept and role names never contain. The mapping is one-to-one and
 * leaves every name without a comma unchanged, so roles tagged before this encoding are still recognised.
 */
export function roleNameTagValue(roleName: string): string {
  return roleName.replace(/,/g, ':');
}

/**
 * Storage locations (issue 11): `default` for Peridio's default storage, or `b.<encoded role>.<configVersion>`
 * for a config that has served. Opaque to callers, readable for operators.
 * Note: encodeRoleNameForExecution expands each character outside [A-Za-z0-9-] to 3 characters, so a role name
 * with many such characters can exceed the pattern's 30-character segment (the same assumption as executionName).
 */
export const DEFAULT_LOCATION = 'default';
export const LOCATION_PATTERN = /^(default|b\.[A-Za-z0-9_-]{1,30}\.[1-9][0-9]{0,9})$/;

export function locationFor(roleName: string, configVersion: number): string {
  return `b.${encodeRoleNameForExecution(roleName)}.${configVersion}`;
}
