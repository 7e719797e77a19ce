/**
 * Cross-org claims: a customer role ARN, and a bucket + prefix, are connected (serving, retired but not yet
 * offboarded) or pending for at most ONE org.
 * Otherwise an org could onboard another org's role or bucket (or a prefix inside or around another org's
 * prefix) and read or overwrite that org's firmware. Same org, other backends or re-onboardings: fine.
 *
 * Items in the records table, apart from the org items (the signer's one GetItem per org is unaffected):
 *
 *   pk "CLAIM#ROLE#<arn:partition:iam::account:role/lowercase-name>"  sk "CLAIM"
 *   pk "CLAIM#BUCKET#<bucket>"                                         sk "CLAIM"
 *     version  number                      bumped by every write
 *     claims   { <executionName>: Claim }  Claim = { orgId, roleName, configVersion, executionArn, prefix, at }
 *
 * The role key ignores the role's path and the letter case of its name (IAM role names are unique per
 * account ignoring case). `prefix` is '' for the whole bucket; two prefixes overlap when one starts with the
 * other (`a/` and `a/b/`; '' overlaps everything), because the signer prefixes keys by plain concatenation.
 *
 * Every change is ONE PutItem conditioned on the `version` read (attribute_not_exists for a new item), so
 * two orgs racing for the same bucket cannot both win, without transactions (dynalite has none).
 *
 * A foreign claim counts only while it is live, that is while its config is still connected (docs/locations.md):
 *   1. its org routes to that backend and that backend's serving config is the claiming execution's; or
 *   2. its org has the location item of that config (`locationFor(roleName, configVersion)`, same
 *      executionName) in state `serving` or `retired`: a retired config stays connected, and the signer still
 *      signs downloads into its bucket + prefix with its customer role: were another org to take them, org A's
 *      retired location would sign URLs into org B's storage (issue 11 follow-up); an `offboarded` item is
 *      not live; or
 *   3. no such item exists yet and the org item still holds it as the backend's serving config (records
 *      written before location items existed, or not materialised yet: connected until offboarded); or
 *   4. the claiming execution is still RUNNING (DescribeExecution).
 * Each is read only on the contended path (another org's overlapping claim): the org item, then ONE GetItem
 * of the location item, then DescribeExecution, stopping at the first that says live.
 * Stale claims (failed, aborted, timed out, offboarded) are dropped by the next write, so an execution that
 * died outside any Catch never blocks a bucket for good. Claims are released explicitly by RecordFailure (the
 * config failed), RecordConfig (a holder it marks ABANDONED) and Offboard (the configs it offboards). Activate
 * does NOT release the replaced config's claims: that config is retired, still connected, and keeps them.
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { ClaimedByAnotherOrgError, TransientError, asTransientOr, awsErrorName } from './errors';
import { getOrgRecord } from './records/read-sdk';
import { getLocationRecord, locationFor } from './records/location-read';
import { documentClientReader } from './records/location-read-sdk';
import { describeExecutionState } from './executions';

export const CLAIM_SK = 'CLAIM' as const;

export interface Claim {
  orgId: string;
  roleName: string;
  configVersion: number;
  executionArn: string;
  /** Bucket claims only: '' = the whole bucket. */
  prefix: string;
  at: string;
}

export interface ClaimItem {
  pk: string;
  sk: typeof CLAIM_SK;
  version: number;
  claims: Record<string, Claim>;
}

/** What an onboarding claims: its customer role and its bucket + prefix. */
export interface ClaimRequest {
  orgId: string;
  roleName: string;
  configVersion: number;
  executionArn: string;
  executionName: string;
  roleArn: string;
  bucket: string;
  prefix?: string;
}

export interface ClaimStore {
  ddb: DynamoDBDocumentClient;
  tableName: string;
}

/** `arn:<partition>:iam::<account>:role/<name lowercased>`, without the path: one key per IAM role. */
export function normalisedRoleArn(roleArn: string): string {
  const [arn, partition, service, , account, resource = ''] = roleArn.split(':');
  const name = resource.slice(resource.lastIndexOf('/') + 1);
  return `${arn}:${partition}:${service}::${account}:role/${name.toLowerCase()}`;
}

export function roleClaimPk(roleArn: string): string {
  return `CLAIM#ROLE#${normalisedRoleArn(roleArn)}`;
}

export function bucketClaimPk(bucket: string): string {
  return `CLAIM#BUCKET#${bucket}`;
}

/** Two prefixes of one bucket overlap when one contains the other ('' is the whole bucket). */
export function prefixesOverlap(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

async function readClaims(store: ClaimStore, pk: string): Promise<ClaimItem | undefined> {
  try {
    const out = await store.ddb.send(new GetCommand({ TableName: store.tableName, Key: { pk, sk: CLAIM_SK }, ConsistentRead: true }));
    return out.Item as ClaimItem | undefined;
  } catch (err) {
    throw asTransientOr(err, 'DynamoDB GetItem (claims)');
  }
}

/** Writes the claims map; false when another writer changed the item since `read` (re-read and decide again). */
async function writeClaims(store: ClaimStore, pk: string, read: ClaimItem | undefined, claims: Record<string, Claim>): Promise<boolean> {
  const item: ClaimItem = { pk, sk: CLAIM_SK, version: (read?.version ?? 0) + 1, claims };
  try {
    await store.ddb.send(
      new PutCommand({
        TableName: store.tableName,
        Item: item,
        ConditionExpression: read ? '#version = :read' : 'attribute_not_exists(pk)',
        ExpressionAttributeNames: read ? { '#version': 'version' } : undefined,
        ExpressionAttributeValues: read ? { ':read': read.version } : undefined,
      }),
    );
    return true;
  } catch (err) {
    if (awsErrorName(err) === 'ConditionalCheckFailedException') return false;
    throw asTransientOr(err, 'DynamoDB PutItem (claims)');
  }
}

/**
 * Whether a claim still holds: its config routes, or is still connected (a `serving` or `retired` location
 * item of its org, or, with no item yet, the org item's serving config), or its execution is still running.
 */
async function isLive(store: ClaimStore, sfn: SFNClient, executionName: string, claim: Claim): Promise<boolean> {
  const record = await getOrgRecord(store.ddb, store.tableName, claim.orgId);
  const serving = record?.backends?.[claim.roleName]?.serving;
  const servesIt = serving?.executionArn === claim.executionArn;
  if (servesIt && record?.active === claim.roleName) return true;
  const location = await getLocationRecord(documentClientReader(store.ddb), store.tableName, claim.orgId, locationFor(claim.roleName, claim.configVersion));
  if (location) {
    if (location.executionName === executionName && (location.state === 'serving' || location.state === 'retired')) return true;
  } else if (servesIt) {
    // Not materialised yet: the org item's serving config of a backend that no longer routes counts as retired.
    return true;
  }
  return (await describeExecutionState(sfn, claim.executionArn)).status === 'RUNNING';
}

interface ClaimKind {
  what: (req: ClaimRequest) => string;
  pk: (req: ClaimRequest) => string;
  /** Whether an existing claim of another org conflicts with this request. */
  conflicts: (existing: Claim, req: ClaimRequest) => boolean;
}

const ROLE: ClaimKind = {
  what: (req) => `the customer role ${req.roleArn}`,
  pk: (req) => roleClaimPk(req.roleArn),
  conflicts: () => true,
};

const BUCKET: ClaimKind = {
  what: (req) => `s3://${req.bucket}/${req.prefix ?? ''}${req.prefix ? '' : ' (the whole bucket)'}`,
  pk: (req) => bucketClaimPk(req.bucket),
  conflicts: (existing, req) => prefixesOverlap(existing.prefix, req.prefix ?? ''),
};

function claimedElsewhere(kind: ClaimKind, req: ClaimRequest): ClaimedByAnotherOrgError {
  // The other org is not named: the message is stored on this org's config and published in its events.
  return new ClaimedByAnotherOrgError(
    `${kind.what(req)} is still connected to another org (serving, retired but not offboarded, or being onboarded)` +
      (kind === BUCKET ? ' (a prefix containing, or inside, this one counts)' : '') +
      `; org ${req.orgId} cannot use it`,
  );
}

/** The live foreign claims conflicting with `req`, and the stale ones that may be dropped. */
async function foreignClaims(
  store: ClaimStore,
  sfn: SFNClient,
  kind: ClaimKind,
  req: ClaimRequest,
  item: ClaimItem | undefined,
): Promise<{ live: boolean; stale: string[] }> {
  const stale: string[] = [];
  for (const [name, claim] of Object.entries(item?.claims ?? {})) {
    if (name === req.executionName || claim.orgId === req.orgId || !kind.conflicts(claim, req)) continue;
    if (await isLive(store, sfn, name, claim)) return { live: true, stale };
    stale.push(name);
  }
  return { live: false, stale };
}

async function acquire(store: ClaimStore, sfn: SFNClient, kind: ClaimKind, req: ClaimRequest, now: Date): Promise<void> {
  const pk = kind.pk(req);
  for (let round = 0; round < 5; round += 1) {
    const item = await readClaims(store, pk);
    const { live, stale } = await foreignClaims(store, sfn, kind, req, item);
    if (live) throw claimedElsewhere(kind, req);
    const claims = { ...(item?.claims ?? {}) };
    for (const name of stale) delete claims[name];
    const mine: Claim = {
      orgId: req.orgId,
      roleName: req.roleName,
      configVersion: req.configVersion,
      executionArn: req.executionArn,
      prefix: kind === BUCKET ? (req.prefix ?? '') : '',
      at: claims[req.executionName]?.at ?? now.toISOString(),
    };
    claims[req.executionName] = mine;
    if (await writeClaims(store, pk, item, claims)) return;
  }
  throw new TransientError(`${kind.what(req)}: the claim kept changing; retry`);
}

/**
 * Claims the customer role and the bucket + prefix for this execution (RecordConfig, before it writes the
 * pending config). Idempotent for the same execution. Throws ClaimedByAnotherOrgError when another org
 * holds a live claim on either (the role claim is released again if the bucket is refused), TransientError
 * on throttling or a claim that kept changing.
 */
export async function acquireClaims(store: ClaimStore, sfn: SFNClient, req: ClaimRequest, now: Date): Promise<void> {
  await acquire(store, sfn, ROLE, req, now);
  try {
    await acquire(store, sfn, BUCKET, req, now);
  } catch (err) {
    await releaseClaims(store, { roleArn: req.roleArn, bucket: undefined, executionName: req.executionName });
    throw err;
  }
}

/**
 * Read-only check (the starter, so support gets the refusal at once): throws ClaimedByAnotherOrgError when
 * another org holds a live claim on the role or the bucket + prefix. RecordConfig decides for good.
 */
export async function checkClaims(store: ClaimStore, sfn: SFNClient, req: Omit<ClaimRequest, 'executionArn' | 'executionName' | 'configVersion'>): Promise<void> {
  const full: ClaimRequest = { ...req, executionArn: '', executionName: '', configVersion: 0 };
  for (const kind of [ROLE, BUCKET]) {
    const { live } = await foreignClaims(store, sfn, kind, full, await readClaims(store, kind.pk(full)));
    if (live) throw claimedElsewhere(kind, full);
  }
}

/**
 * Drops this execution's claims on the role and the bucket (either may be undefined). Idempotent; a no-op
 * for claims it does not hold. TransientError on throttling or a claim that kept changing.
 */
export async function releaseClaims(
  store: ClaimStore,
  args: { roleArn: string | undefined; bucket: string | undefined; executionName: string },
): Promise<void> {
  const pks = [args.roleArn ? roleClaimPk(args.roleArn) : undefined, args.bucket ? bucketClaimPk(args.bucket) : undefined];
  for (const pk of pks) {
    if (!pk) continue;
    let done = false;
    for (let round = 0; round < 5 && !done; round += 1) {
      const item = await readClaims(store, pk);
      if (!item?.claims?.[args.executionName]) {
        done = true;
        break;
      }
      const claims = { ...item.claims };
      delete claims[args.executionName];
      done = await writeClaims(store, pk, item, claims);
    }
    if (!done) throw new TransientError(`release claim ${pk}: the claim kept changing; retry`);
  }
}
