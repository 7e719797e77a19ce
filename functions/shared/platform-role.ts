/**
 * The platform role's policies, shared by the steps that write them: CreatePlatformRole (renders the
 * customer's trust policy, writes the inline policy), Activate (narrows the inline policy to the connected
 * configs) and offboarding (rewrites or deletes it).
 *
 * The inline policy allows only sts:AssumeRole on the customer role ARN(s) of the backend's connected
 * configs: the in-progress pending one, the serving one, and every config whose location item is not
 * offboarded (docs/locations.md).
 */
import { PutRolePolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { StaleExecutionError, TransientError, asTransientOr, awsErrorName } from './errors';
import { externalIdFor, platformRoleName } from './identifiers';
import { FINISHED_STATUSES, IN_PROGRESS_STATUSES, type Backend, type ExecutionRef, type OrgRecord, type RecordStore } from './records/model';
import { getOrgRecord } from './records/read-sdk';
import { locationOfConfig, type LocationRecord } from './records/location-read';
import { listLocations } from './records/location-read-sdk';
import { connectedCustomerRoleArns } from './records/locations';

/** The name of the platform role's one inline policy. */
export const INLINE_POLICY_NAME = 'assume-customer-role';

/** The customer's trust policy, in exactly the seed's shape. */
export interface CustomerTrustPolicy {
  Version: '2012-10-17';
  Statement: [
    {
      Effect: 'Allow';
      Principal: { AWS: string };
      Action: 'sts:AssumeRole';
      Condition: { StringEquals: { 'sts:ExternalId': string } };
    },
  ];
}

/** The policy the customer applies to their role: the seed's shape, with our platform role and their org ID. */
export function customerTrustPolicy(platformRoleArn: string, orgId: string): CustomerTrustPolicy {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { AWS: platformRoleArn },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': externalIdFor(orgId) } },
      },
    ],
  };
}

/** Only sts:AssumeRole, only on the customer role ARN(s). */
export function platformRoleInlinePolicy(customerRoleArns: string[]): string {
  const arns = [...new Set(customerRoleArns)].sort();
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: arns.length === 1 ? arns[0] : arns }],
  });
}

/**
 * The customer role ARNs a backend's platform role may assume: those of every location item of the backend
 * that is not offboarded (serving and retired configs: binaries stay downloadable from them), the serving
 * config's (unless its item says it was offboarded; records from before locations have no item), and an
 * in-progress pending one's. `locations` are the org's location items (any backend; filtered here).
 */
export function allowedCustomerRoleArns(backend: Backend | undefined, locations: readonly LocationRecord[] = []): string[] {
  if (!backend) return [];
  const arns = new Set<string>(connectedCustomerRoleArns(locations, backend.roleName));
  if (backend.serving) {
    const location = locationOfConfig(backend.roleName, backend.serving);
    const item = locations.find((l) => l.location === location);
    if (item?.state !== 'offboarded') arns.add(backend.serving.upload.roleArn);
  }
  if (backend.pending && IN_PROGRESS_STATUSES.includes(backend.pending.status)) arns.add(backend.pending.upload.roleArn);
  return [...arns].sort();
}

function ownsPending(record: OrgRecord | undefined, ref: ExecutionRef): boolean {
  const pending = record?.backends?.[ref.roleName]?.pending;
  return pending?.executionArn === ref.executionArn && !FINISHED_STATUSES.includes(pending.status);
}

/**
 * Writes the platform role's inline policy from the org record and the org's location items
 * (allowedCustomerRoleArns), then reads the
 * record again and rewrites while the allowed ARNs changed meanwhile, up to `rounds` writes. So the last
 * write always reflects a read made after the previous write: a newer onboarding's pending ARN, recorded
 * while we wrote, is never left out. `record` saves the first read (the record as a write just left it).
 * With `owner`, refuses (StaleExecutionError) before any write unless that execution owns the in-progress
 * pending config; if it loses ownership while writing, the policy is rewritten from the record (undoing
 * what it allowed) and StaleExecutionError is thrown. Returns the ARNs last written (empty: nothing to allow,
 * nothing written). IAM errors: TransientError for throttling and a role not visible yet, else rethrown.
 */
export async function syncPlatformRolePolicy(
  iam: IAMClient,
  store: RecordStore,
  orgId: string,
  roleName: string,
  opts: { owner?: ExecutionRef; record?: OrgRecord; rounds?: number } = {},
): Promise<string[]> {
  const iamRoleName = platformRoleName(orgId, roleName);
  let record = opts.record;
  let written: string[] = [];
  let lostOwnership = false;
  for (let round = 0; round < (opts.rounds ?? 3); round += 1) {
    record ??= await getOrgRecord(store.ddb, store.tableName, orgId);
    if (opts.owner && !ownsPending(record, opts.owner)) {
      if (round === 0) throw staleRoleWriter(opts.owner);
      lostOwnership = true;
    }
    const backend = record?.backends?.[roleName];
    // The location items are listed every round too: an offboarding or a reconcile may change them meanwhile.
    const arns = allowedCustomerRoleArns(backend, backend ? await listLocations(store.ddb, store.tableName, orgId) : []);
    if (round > 0 && arns.join('\n') === written.join('\n')) break;
    if (arns.length === 0) break;
    try {
      await iam.send(new PutRolePolicyCommand({ RoleName: iamRoleName, PolicyName: INLINE_POLICY_NAME, PolicyDocument: platformRoleInlinePolicy(arns) }));
    } catch (err) {
      // Right after CreateRole another IAM endpoint may not know the role yet: retry the step.
      if (isNamed(err, 'NoSuchEntity')) throw new TransientError(`IAM PutRolePolicy: role ${iamRoleName} not visible yet`, { cause: err });
      throw asTransientOr(err, 'IAM PutRolePolicy');
    }
    written = arns;
    record = undefined;
  }
  if (lostOwnership && opts.owner) throw staleRoleWriter(opts.owner);
  return written;
}

function staleRoleWriter(ref: ExecutionRef): StaleExecutionError {
  return new StaleExecutionError(
    `Execution ${ref.executionArn} no longer owns the pending config of backend ${ref.roleName} of org ${ref.orgId}; ` +
      "the platform role's policy is left as the records say (connected and in-progress customer roles only)",
  );
}

function isNamed(err: unknown, ...names: string[]): boolean {
  const n = awsErrorName(err);
  return names.some((x) => n === x || n === `${x}Exception`);
}
