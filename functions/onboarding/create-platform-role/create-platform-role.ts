/**
 * CreatePlatformRole: creates or adopts `binary_backend_<orgId>_<roleName>` in the platform account, then
 * hands support the customer's trust policy.
 *
 * - Never deletes and recreates the role: IAM binds the customer's trust policy to the role's unique ID
 *   (AROA...), so a recreated role silently breaks every trust that named it. An existing role is adopted
 *   only when its tags say it is ours (service, org, backend, stage); otherwise PlatformRoleConflictError.
 * - Its trust policy names the platform account root, limited by `ArnLike aws:PrincipalArn` to the
 *   service's function roles (survives a redeploy that recreates a function role).
 * - Its inline policy (functions/shared/platform-role.ts, shared with Activate and offboarding) allows only
 *   sts:AssumeRole on the customer role ARN(s) of the backend's connected
 *   configs: the in-progress pending one, the serving one, and every config whose location item is not
 *   offboarded (docs/locations.md). A re-onboarding that changes the customer role keeps the old one
 *   assumable until that config is offboarded.
 * - It gets the permissions boundary and tags. An adopted role must already carry this stage's boundary
 *   (the service never changes boundaries; the function roles deny it): otherwise PlatformRoleConflictError.
 * - It waits until GetRole succeeds, then a propagation delay (a customer console answers "Invalid
 *   principal in policy" for a principal it cannot resolve yet), and only then renders the trust policy in
 *   exactly the seed's shape, stores it (status AWAITING_TRUST) and emits *Trust Policy Ready*.
 */
import {
  CreateRoleCommand,
  GetRoleCommand,
  ListRoleTagsCommand,
  UpdateAssumeRolePolicyCommand,
  type IAMClient,
  type Role,
  type Tag,
} from '@aws-sdk/client-iam';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { RecordStore } from '#shared/records/model';
import { writeAuditEvent } from '#shared/records/audit';
import type { PlatformRoleResult, StepInput } from '#shared/records/workflow-context';
import { storeTrustPolicy } from '#shared/records/pending-writes';
import { DetailType, emitEvent } from '#shared/events';
import { customerTrustPolicy, syncPlatformRolePolicy } from '#shared/platform-role';
import { PlatformRoleConflictError, TransientError, ValidationError, asTransientOr, awsErrorName } from '#shared/errors';
import { iamRoleNameProblem, iamTagProblem, partitionOf, platformRoleName, roleNameTagValue } from '#shared/identifiers';

export interface CreatePlatformRoleConfig {
  platformAccountId: string;
  /** `ArnLike aws:PrincipalArn` value(s) of the platform role trust: who may assume platform roles. */
  trustedPrincipalPattern: string | readonly string[];
  permissionsBoundaryArn: string;
  propagationDelaySeconds: number;
  stage: string;
  eventBusName: string;
}

export interface CreatePlatformRoleDeps {
  iam: IAMClient;
  events: EventBridgeClient;
  store: RecordStore;
  clock: () => Date;
  /** Injected so tests never wait. */
  sleep: (ms: number) => Promise<void>;
  config: CreatePlatformRoleConfig;
  /** GetRole polls before giving up with TransientError (like botocore's RoleExists waiter: 20 x 1 s). */
  roleReadableAttempts?: number;
}

export const TAG_SERVICE = 'peridio:service';
export const TAG_ORG = 'peridio:org-id';
export const TAG_BACKEND = 'peridio:backend';
export const TAG_STAGE = 'peridio:stage';
export const SERVICE_TAG_VALUE = 'binary-backends';

/** What support sends with the policy. */
export function trustPolicyInstructions(customerRoleArn: string, orgId: string): string {
  return [
    `Add this statement to the trust policy of the IAM role ${customerRoleArn} (IAM console > Roles > the role > Trust relationships > Edit trust policy): append it to the existing "Statement" list and keep the statements already there, which other services may rely on.`,
    `Keep the Condition exactly as written: sts:ExternalId must equal your org ID ${orgId}. Peridio refuses a role that can be assumed without it.`,
    'If the console answers "Invalid principal in policy", the Peridio role is not yet visible to IAM in your account: wait a minute and save again.',
    'Peridio checks automatically and continues on its own once the policy is applied; nothing else needs to be sent.',
  ].join('\n');
}

/** The platform role's own trust: our account root, limited to the service's function roles. */
export function platformRoleTrustPolicy(partition: string, platformAccountId: string, principalPattern: string | readonly string[]): string {
  // One or more ArnLike patterns; deployed: the exact ARNs of the chain-walking function roles.
  const patterns = typeof principalPattern === 'string' ? [principalPattern] : [...principalPattern];
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: `arn:${partition}:iam::${platformAccountId}:root` },
        Action: 'sts:AssumeRole',
        Condition: { ArnLike: { 'aws:PrincipalArn': patterns.length === 1 ? patterns[0] : patterns } },
      },
    ],
  });
}

function ourTags(input: StepInput, stage: string): Tag[] {
  return [
    { Key: TAG_SERVICE, Value: SERVICE_TAG_VALUE },
    { Key: TAG_ORG, Value: input.orgId },
    { Key: TAG_BACKEND, Value: roleNameTagValue(input.roleName) },
    { Key: TAG_STAGE, Value: stage },
  ];
}

/** IAM refuses the whole CreateRole for one bad tag: check the name and every tag first, so nothing is created. */
function assertIamNames(roleName: string, tags: Tag[]): void {
  const nameProblem = iamRoleNameProblem(roleName);
  if (nameProblem) throw new ValidationError(`roleName: the platform role name ${nameProblem}`, ['roleName']);
  for (const tag of tags) {
    const problem = iamTagProblem(tag);
    if (problem) throw new ValidationError(`${tag.Key === TAG_STAGE ? 'stage' : 'roleName'}: ${problem}`, [tag.Key === TAG_STAGE ? 'stage' : 'roleName']);
  }
}

function isNamed(err: unknown, ...names: string[]): boolean {
  const n = awsErrorName(err);
  return names.some((x) => n === x || n === `${x}Exception`);
}

/** Creates or adopts the platform role and stores the customer's trust policy. See the module comment. */
export async function createPlatformRole(input: StepInput, deps: CreatePlatformRoleDeps): Promise<PlatformRoleResult> {
  const { iam, config } = deps;
  const roleName = platformRoleName(input.orgId, input.roleName);
  const partition = partitionOf(input.platformRoleArn);
  const tags = ourTags(input, config.stage);
  assertIamNames(roleName, tags);
  const trust = platformRoleTrustPolicy(partition, config.platformAccountId, config.trustedPrincipalPattern);

  let adopted = false;
  try {
    await iam.send(
      new CreateRoleCommand({
        RoleName: roleName,
        AssumeRolePolicyDocument: trust,
        PermissionsBoundary: config.permissionsBoundaryArn,
        Tags: tags,
        MaxSessionDuration: 3600,
        Description: `Peridio binary backend ${input.roleName} of org ${input.orgId}: assumes the customer's role (sts:ExternalId = org ID)`,
      }),
    );
  } catch (err) {
    if (!isNamed(err, 'EntityAlreadyExists')) throw asTransientOr(err, 'IAM CreateRole');
    await adoptExistingRole(iam, roleName, tags, trust, config.permissionsBoundaryArn);
    adopted = true;
  }

  const ref = { orgId: input.orgId, roleName: input.roleName, executionArn: input.executionArn };
  // The policy is computed from the record (the serving ARN and the in-progress pending one), and only while
  // this execution owns the pending config: a stale execution must never widen it.
  const customerArns = await syncPlatformRolePolicy(iam, deps.store, ref.orgId, ref.roleName, { owner: ref });

  const role = await waitUntilReadable(deps, roleName);
  await waitForPropagation(deps, role);

  const now = deps.clock();
  const platformRoleArn = role.Arn ?? input.platformRoleArn;
  const policy = customerTrustPolicy(platformRoleArn, input.orgId);
  const instructions = trustPolicyInstructions(input.upload.roleArn, input.orgId);
  await storeTrustPolicy(deps.store, ref, {
    platformRoleArn,
    trustPolicy: JSON.stringify(policy, null, 2),
    instructions,
    now,
  });
  await emitEvent(deps.events, config.eventBusName, DetailType.TrustPolicyReady, {
    orgId: input.orgId,
    roleName: input.roleName,
    executionArn: input.executionArn,
    configVersion: input.configVersion,
    platformRoleArn,
    customerRoleArn: input.upload.roleArn,
    trustPolicy: policy,
    instructions,
  });
  await writeAuditEvent(deps.store, {
    orgId: input.orgId,
    executionName: input.executionName,
    step: 'CreatePlatformRole',
    attempt: 1,
    at: now.toISOString(),
    detail: { platformRoleArn, adopted, allowedCustomerRoles: customerArns, status: 'AWAITING_TRUST' },
  });
  return { roleArn: platformRoleArn, trustPolicyReadyAt: now.toISOString() };
}

/**
 * Adopts a role that already has our name: only if its tags say it is ours (a retry, or a re-onboarding) and
 * it carries our boundary. Its trust is brought back to ours; it is never deleted.
 */
async function adoptExistingRole(iam: IAMClient, roleName: string, tags: Tag[], trust: string, boundaryArn: string): Promise<void> {
  let role: Role | undefined;
  let existingTags: Tag[] = [];
  try {
    role = (await iam.send(new GetRoleCommand({ RoleName: roleName }))).Role;
    existingTags = role?.Tags ?? [];
    if (existingTags.length === 0) existingTags = (await iam.send(new ListRoleTagsCommand({ RoleName: roleName }))).Tags ?? [];
  } catch (err) {
    // EntityAlreadyExists then NoSuchEntity: it was deleted in between, or IAM is still converging.
    if (isNamed(err, 'NoSuchEntity')) throw new TransientError(`IAM GetRole: role ${roleName} exists but is not readable yet`, { cause: err });
    throw asTransientOr(err, 'IAM GetRole');
  }
  const mismatched = tags.filter((t) => !existingTags.some((e) => e.Key === t.Key && e.Value === t.Value));
  if (mismatched.length > 0) {
    throw new PlatformRoleConflictError(
      `IAM role ${roleName} already exists but was not created by this service for this backend and stage ` +
        `(tags ${mismatched.map((t) => `${t.Key}=${t.Value}`).join(', ')} missing or different); it is never replaced automatically`,
    );
  }
  // Boundaries are never changed by the service (the function roles deny it): a role of ours without this
  // stage's boundary needs a person, and could not be given its inline policy anyway.
  const boundary = role?.PermissionsBoundary?.PermissionsBoundaryArn;
  if (boundary !== boundaryArn) {
    throw new PlatformRoleConflictError(
      `IAM role ${roleName} is tagged as ours but has permissions boundary ${boundary ?? '(none)'} instead of ${boundaryArn}; ` +
        'the service never changes boundaries, so platform engineering must restore it',
    );
  }
  try {
    // Bring the trust back to ours (the function-role pattern may have changed since it was created).
    await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: roleName, PolicyDocument: trust }));
  } catch (err) {
    throw asTransientOr(err, 'IAM UpdateAssumeRolePolicy');
  }
}

/** Polls GetRole until it succeeds (injected sleep between attempts). */
async function waitUntilReadable(deps: CreatePlatformRoleDeps, roleName: string): Promise<Role> {
  const attempts = deps.roleReadableAttempts ?? 20;
  for (let i = 1; ; i += 1) {
    try {
      const role = (await deps.iam.send(new GetRoleCommand({ RoleName: roleName }))).Role;
      if (role) return role;
    } catch (err) {
      if (!isNamed(err, 'NoSuchEntity')) throw asTransientOr(err, 'IAM GetRole');
    }
    if (i >= attempts) throw new TransientError(`IAM role ${roleName} was still not readable after ${attempts} GetRole attempts`);
    await deps.sleep(1000);
  }
}

/**
 * Waits out the rest of the propagation delay after the role's creation (a role adopted from an earlier
 * run is usually old enough already: no wait).
 */
async function waitForPropagation(deps: CreatePlatformRoleDeps, role: Role): Promise<void> {
  const delayMs = deps.config.propagationDelaySeconds * 1000;
  const created = role.CreateDate ? new Date(role.CreateDate).getTime() : deps.clock().getTime();
  const remaining = created + delayMs - deps.clock().getTime();
  if (remaining > 0) await deps.sleep(Math.min(remaining, delayMs));
}
