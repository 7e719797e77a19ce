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
