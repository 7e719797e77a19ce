/**
 * Offboarding (`binary-backends offboard`, `POST /offboardings`; docs/locations.md "Offboarding"): disconnects
 * retired configs of a backend for good.
 *
 *  1. Reads the org item (routing, pending) and the org's location items. Targets: the given config version,
 *     else every `retired` config of the backend. Refuses (nothing written) the serving config / current route
 *     (ConfigStillServingError), a version that does not exist or never served (ValidationError), an unknown
 *     backend (BackendNotFoundError) and a backend with an onboarding in progress (OnboardingInProgressError).
 *  2. `dryRun`: answers the plan (locations, platform role deleted or narrowed to which ARNs, secrets scheduled
 *     for deletion) and changes nothing.
 *  3. Marks each target `offboarded` (UpdateItem conditioned on `state = retired`; an item already offboarded is
 *     reported, not rewritten). A config that served but has no location item yet (records written before
 *     locations existed; the org item still holds it as a non-routing `serving`) is written as an offboarded
 *     item directly (PutItem, attribute_not_exists).
 *  3b. Releases the cross-org claims (claims.ts) of every target config (its execution's claims on its customer
 *     role and its bucket + prefix), after marking: a retired config keeps them, so no other org can onboard
 *     that role or bucket while Peridio still signs into it; offboarded, it no longer counts as connected.
 *     Idempotent (a claim already released is a no-op), so a re-run releases the ones a failed run left.
 *  4. The platform role `binary_backend_<org>_<role>`: deleted (inline policies first) when no config of the
 *     backend still needs it (none serving, retired or pending in progress; re-checked on a fresh read of the
 *     org item just before the delete); otherwise its inline policy is rewritten to the customer roles still
 *     needed.
 *  5. CloudFront keys of offboarded configs: DeleteSecret with a 30-day recovery window (never
 *     ForceDeleteWithoutRecovery), only when no config still connected (serving, retired, any pending) of the
 *     org references the same secret; the item records keyDeletionScheduledAt / keyDeletionDate.
 *  6. Emits *Backend Offboarded* and writes the audit event (step `Offboard`, execution name
 *     `offboard-<roleName>-<versions>`, so a re-run finds it and neither emits nor writes again).
 *
 * Every AWS call is retried on throttling (TransientError, bounded, injected sleep), and every step is
 * idempotent: a run that failed half-way is finished by running it again. Nothing secret is read or written:
 * secrets are referenced by ARN.
 */
import { createHash } from 'node:crypto';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DeleteRoleCommand, DeleteRolePolicyCommand, ListRolePoliciesCommand, PutRolePolicyCommand, type IAMClient } from '@aws-sdk/client-iam';
import { DeleteSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import { IN_PROGRESS_STATUSES, type Backend, type BackendConfig, type OrgRecord, type RecordStore } from '#shared/records/model';
import { orgPk } from '#shared/records/read';
import { getOrgRecord } from '#shared/records/read-sdk';
import { auditSk, writeAuditEvent } from '#shared/records/audit';
import {
  BackendNotFoundError,
  ConfigStillServingError,
  OnboardingInProgressError,
  TransientError,
  ValidationError,
  asTransientOr,
  awsErrorName,
} from '#shared/errors';
import { DetailType, emitEvent } from '#shared/events';
import { platformRoleName } from '#shared/identifiers';
import { locationOfConfig, type LocationRecord } from '#shared/records/location-read';
import { listLocations } from '#shared/records/location-read-sdk';
import { locationItem } from '#shared/records/locations';
import { releaseClaims } from '#shared/claims';
import { orgIdSchema, parseOrThrow, roleNameSchema } from '#shared/validation';
import { INLINE_POLICY_NAME, allowedCustomerRoleArns, platformRoleInlinePolicy } from '#shared/platform-role';

/** Secrets Manager's longest recovery window: the key can be restored for 30 days. */
export const KEY_RECOVERY_WINDOW_DAYS = 30;

export interface OffboardDeps {
  store: RecordStore;
  iam: IAMClient;
  secrets: SecretsManagerClient;
  events: EventBridgeClient;
  eventBusName: string;
  clock: () => Date;
  sleep: (ms: number) => Promise<void>;
  /** Attempts per AWS call on TransientError (throttling, 5xx), with 200 ms, 400 ms, ... between. Default 5. */
  attempts?: number;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const requestSchema = z.strictObject({
  orgId: orgIdSchema,
  roleName: roleNameSchema,
  configVersion: z.optional(
    z.number({ error: 'must be a number' }).check(z.int({ error: 'must be a whole number' }), z.gte(1, { error: 'must be at least 1' })),
  ),
  /** Why; printable text only, at most 500 characters. */
  reason: z.optional(
    z.string().check(
      z.maxLength(500),
      z.refine((s) => !CONTROL.test(s), { error: 'must not contain control or bidi characters' }),
    ),
  ),
  dryRun: z.optional(z.boolean({ error: 'must be true or false' })),
  /** Set by the handler: the verified caller (or `claimed:<...>` for a direct invoke), never the API body. */
  requestedBy: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
});

export interface OffboardedLocation {
  location: string;
  configVersion: number;
  bucket: string;
  prefix?: string;
  download: 's3' | 'cloudfront';
  customerRoleArn: string;
}

export interface KeyDeletion {
  secretArn: string;
  /** The offboarded locations whose config referenced it. */
  locations: string[];
  /** Dry run: what would happen; otherwise what happened. */
  outcome: 'scheduled' | 'already-scheduled' | 'not-found' | 'would-schedule';
  deletionDate?: string;
}

/** The cross-org claims (claims.ts) of an offboarded config: its customer role and its bucket + prefix. */
export interface ReleasedClaim {
  location: string;
  /** The onboarding execution that took the claims. */
  executionName: string;
  customerRoleArn: string;
  bucket: string;
  /** '' = the whole bucket. */
  prefix: string;
}

export interface KeyKept {
  secretArn: string;
  /** Locations still connected that reference it. */
  stillUsedBy: string[];
}

export interface OffboardResult {
  orgId: string;
  roleName: string;
  dryRun: boolean;
  /** Offboarded by this call (dry run: would be). */
  offboarded: OffboardedLocation[];
  /** Targets that were offboarded before this call: nothing changed for them. */
  alreadyOffboarded: { location: string; configVersion: number; offboardedAt?: string; offboardedBy?: string }[];
  offboardedBy: string;
  offboardedAt: string;
  reason: string | null;
  platformRole: {
    name: string;
    /** deleted (or would be): no config needs it; kept: its policy now allows `allowedCustomerRoleArns` only. */
    action: 'deleted' | 'kept';
    allowedCustomerRoleArns: string[];
    /** Customer roles it may no longer assume. */
    removedCustomerRoleArns: string[];
  };
  keysScheduledForDeletion: KeyDeletion[];
  keysKept: KeyKept[];
  /**
   * The claims of every target (dry run: that would be released): other orgs may onboard these roles and
   * buckets + prefixes afterwards. Released again on a re-run (a no-op for a claim already released).
   */
  claimsReleased: ReleasedClaim[];
  /** The org's storage that stays connected, for the operator's confidence. */
  stillConnected: { location: string; state: string }[];
  /** Nothing was targeted (no retired config): nothing was changed. */
  nothingToDo: boolean;
}

/** One config of the backend as offboarding sees it: its location item, or a not yet materialised one. */
interface Candidate {
  item: LocationRecord;
  /** False: no location item exists (the org item's non-routing serving config); written as a new item. */
  stored: boolean;
}

type Request = z.infer<typeof requestSchema>;

/** Retries `fn` on TransientError (asTransientOr of throttling / 5xx), up to `deps.attempts`, with backoff. */
async function retrying<T>(deps: OffboardDeps, what: string, fn: () => Promise<T>): Promise<T> {
  const attempts = Math.max(1, deps.attempts ?? 5);
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (raw) {
      const err = asTransientOr(raw, what);
      if (!(err instanceof TransientError) || attempt >= attempts) throw err;
      await deps.sleep(Math.min(200 * 2 ** (attempt - 1), 5_000));
    }
  }
}

function isNamed(err: unknown, ...names: string[]): boolean {
  const n = awsErrorName(err);
  return names.some((x) => n === x || n === `${x}Exception`);
}

/** The current route of the org when it is this backend's: its serving config. */
function currentRoute(record: OrgRecord | undefined, roleName: string): BackendConfig | undefined {
  return record?.active === roleName ? record.backends?.[roleName]?.serving : undefined;
}

/** An in-progress pending config of the backend (an onboarding or re-onboarding running). */
function inProgress(backend: Backend | undefined): BackendConfig | undefined {
  const p = backend?.pending;
  return p && IN_PROGRESS_STATUSES.includes(p.status) ? p : undefined;
}

/** A location item for a config that served but has none yet (locations.ts's shape), as retired. */
function synthesise(orgId: string, backend: Backend, cfg: BackendConfig, now: string): LocationRecord {
  const item = locationItem({ orgId, roleName: backend.roleName, config: cfg, platformRoleArn: backend.platformRoleArn ?? '', now: new Date(now) });
  return { ...item, state: 'retired', activatedAt: cfg.activatedAt ?? cfg.updatedAt };
}

/** Every config of the backend that has served: its location items plus a non-routing serving config without one. */
function candidatesOf(orgId: string, record: OrgRecord | undefined, items: LocationRecord[], roleName: string, now: string): Candidate[] {
  const out: Candidate[] = items.filter((i) => i.roleName === roleName).map((item) => ({ item, stored: true }));
  const backend = record?.backends?.[roleName];
  const serving = backend?.serving;
  if (backend && serving && currentRoute(record, roleName) !== serving && !out.some((c) => c.item.configVersion === serving.configVersion)) {
    out.push({ item: synthesise(orgId, backend, serving, now), stored: false });
  }
  return out.sort((a, b) => a.item.configVersion - b.item.configVersion);
}

/**
 * The customer role ARNs the backend's platform role must still be able to assume once `offboarding` are
 * offboarded: platform-role.ts's rule (allowedCustomerRoleArns: every config not offboarded, the serving one, an
 * in-progress pending one) applied to the records as they will be, plus the current route's role, which is never
 * offboarded.
 */
export function neededCustomerRoleArns(record: OrgRecord | undefined, items: LocationRecord[], roleName: string, offboarding: ReadonlySet<number> = new Set()): string[] {
  const backend = record?.backends?.[roleName];
  const route = currentRoute(record, roleName);
  const after = items.map((i) => (i.roleName === roleName && offboarding.has(i.configVersion) ? { ...i, state: 'offboarded' as const } : i));
  // A serving config that no longer routes and is being offboarded is not needed, whether or not it has an item yet.
  const leaving = backend?.serving && backend.serving !== route && offboarding.has(backend.serving.configVersion);
  const arns = new Set(allowedCustomerRoleArns(leaving ? { ...backend, serving: undefined } : backend, after));
  if (route) arns.add(route.upload.roleArn);
  return [...arns].sort();
}

/** Secret ARN -> locations (or org-item configs) still connected that reference it, across all the org's backends. */
function connectedSecretUsers(record: OrgRecord | undefined, items: LocationRecord[], offboarding: ReadonlySet<string>): Map<string, string[]> {
  const users = new Map<string, string[]>();
  const add = (arn: string | undefined, who: string) => {
    if (!arn) return;
    users.set(arn, [...(users.get(arn) ?? []), who]);
  };
  const storedLocations = new Set(items.map((i) => i.location));
  for (const item of items) {
    if (item.state === 'offboarded' || offboarding.has(item.location)) continue;
    if (item.download.type === 'cloudfront') add(item.download.privateKeySecretArn, item.location);
  }
  for (const backend of Object.values(record?.backends ?? {})) {
    const serving = backend.serving;
    if (serving?.download.type === 'cloudfront') {
      const location = locationOfConfig(backend.roleName, serving);
      // A stored item speaks for itself (above); an unmaterialised one is connected unless offboarded now.
      if (!storedLocations.has(location) && !offboarding.has(location)) add(serving.download.privateKeySecretArn, location);
    }
    // Any pending config, whatever its status: a key a pending config names is never scheduled for deletion.
    const pending = backend.pending;
    if (pending?.download.type === 'cloudfront') add(pending.download.privateKeySecretArn, `pending ${backend.roleName} v${pending.configVersion}`);
  }
  return users;
}

function describe(item: LocationRecord): OffboardedLocation {
  return {
    location: item.location,
    configVersion: item.configVersion,
    bucket: item.upload.bucket,
    ...(item.upload.prefix ? { prefix: item.upload.prefix } : {}),
    download: item.download.type,
    customerRoleArn: item.upload.roleArn,
  };
}

/** A stable execution name for the audit event: `offboard-<roleName>-<versions>` (hashed when very many). */
export function offboardExecutionName(roleName: string, versions: number[]): string {
  const sorted = [...versions].sort((a, b) => a - b);
  const list = sorted.join('-');
  const part = list.length <= 200 ? list : `${sorted.length}v-${createHash('sha256').update(list).digest('hex').slice(0, 16)}`;
  return `offboard-${roleName}-${part}`;
}

/** Offboards configs of a backend; see the module comment. */
export async function offboard(event: unknown, deps: OffboardDeps): Promise<OffboardResult> {
  const request = parseOrThrow(requestSchema, event);
  const now = deps.clock();
  const at = now.toISOString();
  const { orgId, roleName } = request;
  const by = request.requestedBy ?? 'unknown';
  const { store } = deps;

  const record = await retrying(deps, 'DynamoDB GetItem', () => getOrgRecord(store.ddb, store.tableName, orgId));
  const items = await retrying(deps, 'DynamoDB Query (locations)', () => listLocations(store.ddb, store.tableName, orgId));
  const backend = record?.backends?.[roleName];
  const candidates = candidatesOf(orgId, record, items, roleName, at);
  if (!backend && candidates.length === 0) {
    throw new BackendNotFoundError(`Org ${orgId} has no backend named "${roleName}" (binary-backends status --org ${orgId} lists them)`);
  }
  const pending = inProgress(backend);
  if (pending) {
    throw new OnboardingInProgressError(
      `Backend "${roleName}" of org ${orgId} has an onboarding in progress (${pending.executionName}, config ${pending.configVersion}, ${pending.status}); ` +
        'offboarding would change the platform role it relies on. Wait for it to finish (binary-backends status), then offboard.',
    );
  }
  const route = currentRoute(record, roleName);
  const targets = selectTargets(request, candidates, route);

  const toMark = targets.filter((c) => c.item.state === 'retired');
  const already = targets.filter((c) => c.item.state === 'offboarded');
  const offboardingVersions = new Set(targets.map((c) => c.item.configVersion));
  const offboardingLocations = new Set(targets.map((c) => c.item.location));
  const stillConnected = candidates.filter((c) => !offboardingVersions.has(c.item.configVersion) && c.item.state !== 'offboarded');

  // The plan, from this read.
  const needed = neededCustomerRoleArns(record, items, roleName, offboardingVersions);
  const everAllowed = new Set([...candidates.map((c) => c.item.upload.roleArn)]);
  const removed = [...everAllowed].filter((a) => !needed.includes(a)).sort();
  const secretUsers = connectedSecretUsers(record, items, offboardingLocations);
  // Keys of every offboarded config of the backend not yet scheduled (a re-run finishes an interrupted one).
  const keyTargets = new Map<string, LocationRecord[]>();
  for (const c of candidates) {
    const offboardedNowOrBefore = offboardingVersions.has(c.item.configVersion) || c.item.state === 'offboarded';
    if (!offboardedNowOrBefore || c.item.download.type !== 'cloudfront' || c.item.keyDeletionScheduledAt) continue;
    const arn = c.item.download.privateKeySecretArn;
    keyTargets.set(arn, [...(keyTargets.get(arn) ?? []), c.item]);
  }
  const keysKept: KeyKept[] = [];
  const keysToDelete: [string, LocationRecord[]][] = [];
  for (const [arn, owners] of keyTargets) {
    const users = secretUsers.get(arn);
    if (users?.length) keysKept.push({ secretArn: arn, stillUsedBy: users });
    else keysToDelete.push([arn, owners]);
  }

  const base = {
    orgId,
    roleName,
    offboarded: toMark.map((c) => describe(c.item)),
    alreadyOffboarded: already.map((c) => ({
      location: c.item.location,
      configVersion: c.item.configVersion,
      ...(c.item.offboardedAt ? { offboardedAt: c.item.offboardedAt } : {}),
      ...(c.item.offboardedBy ? { offboardedBy: c.item.offboardedBy } : {}),
    })),
    offboardedBy: by,
    offboardedAt: at,
    reason: request.reason ?? null,
    keysKept,
    stillConnected: [
      ...(route && !candidates.some((c) => c.item.configVersion === route.configVersion)
        ? [{ location: locationOfConfig(roleName, route), state: 'serving' }]
        : []),
      ...stillConnected.map((c) => ({ location: c.item.location, state: route?.configVersion === c.item.configVersion ? 'serving' : c.item.state })),
    ],
    nothingToDo: targets.length === 0,
    claimsReleased: targets.map((c): ReleasedClaim => ({
      location: c.item.location,
      executionName: c.item.executionName,
      customerRoleArn: c.item.upload.roleArn,
      bucket: c.item.upload.bucket,
      prefix: c.item.upload.prefix ?? '',
    })),
  };
  const roleName_ = platformRoleName(orgId, roleName);
  if (request.dryRun || targets.length === 0) {
    return {
      ...base,
      dryRun: Boolean(request.dryRun),
      platformRole:
        targets.length === 0
          ? { name: roleName_, action: 'kept', allowedCustomerRoleArns: needed, removedCustomerRoleArns: [] }
          : { name: roleName_, action: needed.length === 0 ? 'deleted' : 'kept', allowedCustomerRoleArns: needed, removedCustomerRoleArns: removed },
      keysScheduledForDeletion: keysToDelete.map(([secretArn, owners]) => ({ secretArn, locations: owners.map((o) => o.location), outcome: 'would-schedule' as const })),
    };
  }

  // 3. Mark.
  for (const c of toMark) {
    const outcome = await markOffboarded(deps, c, { by, at, reason: request.reason });
    if (outcome === 'already') {
      base.offboarded = base.offboarded.filter((o) => o.configVersion !== c.item.configVersion);
      base.alreadyOffboarded.push({ location: c.item.location, configVersion: c.item.configVersion });
    }
  }

  // 3b. The targets' cross-org claims, now that they are offboarded (no longer connected). Marking first: a run
  // that fails before this is finished by a re-run (the targets then include the already offboarded ones).
  for (const c of base.claimsReleased) {
    await retrying(deps, 'DynamoDB (release claims)', () =>
      releaseClaims(store, { roleArn: c.customerRoleArn, bucket: c.bucket, executionName: c.executionName }),
    );
  }

  // 4. The platform role, from a fresh read (an onboarding may have started meanwhile).
  const platformRole = await settlePlatformRole(deps, orgId, roleName, offboardingVersions);

  // 5. Keys.
  const keysScheduledForDeletion: KeyDeletion[] = [];
  for (const [secretArn, owners] of keysToDelete) {
    keysScheduledForDeletion.push(await scheduleKeyDeletion(deps, secretArn, owners, at));
  }

  const result: OffboardResult = {
    ...base,
    dryRun: false,
    platformRole: { name: roleName_, action: platformRole.action, allowedCustomerRoleArns: platformRole.allowed, removedCustomerRoleArns: removed.filter((a) => !platformRole.allowed.includes(a)) },
    keysScheduledForDeletion,
  };

  // 6. Event and audit, once per set of targets: a re-run finds the audit event and does neither again.
  const executionName = offboardExecutionName(roleName, [...offboardingVersions]);
  const auditKey = { pk: orgPk(orgId), sk: auditSk(executionName, 'Offboard', 1) };
  const existing = await retrying(deps, 'DynamoDB GetItem (audit event)', async () =>
    (await store.ddb.send(new GetCommand({ TableName: store.tableName, Key: auditKey, ConsistentRead: true }))).Item,
  );
  if (!existing) {
    const locations = targets.map((c) => c.item.location);
    await retrying(deps, 'EventBridge PutEvents', () =>
      emitEvent(deps.events, deps.eventBusName, DetailType.BackendOffboarded, {
        orgId,
        roleName,
        locations,
        offboardedBy: by,
        offboardedAt: at,
        reason: request.reason ?? null,
        platformRole: platformRole.action,
        keysScheduledForDeletion: keysScheduledForDeletion.map((k) => k.secretArn),
      }),
    );
    await retrying(deps, 'DynamoDB PutItem (audit event)', () =>
      writeAuditEvent(store, {
        orgId,
        executionName,
        step: 'Offboard',
        attempt: 1,
        at,
        detail: {
          roleName,
          locations,
          by,
          reason: request.reason ?? null,
          platformRole: platformRole.action,
          allowedCustomerRoleArns: platformRole.allowed,
          keysScheduledForDeletion: keysScheduledForDeletion.map((k) => k.secretArn),
        },
      }),
    );
  }
  return result;
}

function selectTargets(request: Request, candidates: Candidate[], route: BackendConfig | undefined): Candidate[] {
  const { orgId, roleName, configVersion } = request;
  if (configVersion === undefined) return candidates.filter((c) => c.item.state === 'retired' || c.item.state === 'offboarded');
  const found = candidates.find((c) => c.item.configVersion === configVersion);
  if (route?.configVersion === configVersion || found?.item.state === 'serving') {
    throw new ConfigStillServingError(
      `Config ${configVersion} of backend "${roleName}" is org ${orgId}'s current storage. Deactivate the org (binary-backends deactivate) ` +
        'or re-onboard the backend first; then its config is retired and can be offboarded.',
    );
  }
  if (!found) {
    throw new ValidationError(
      `configVersion: backend "${roleName}" of org ${orgId} has no config ${configVersion} that ever served ` +
        `(configs that served: ${candidates.map((c) => c.item.configVersion).join(', ') || 'none'})`,
      ['configVersion'],
    );
  }
  return [found];
}

/** retired -> offboarded, conditioned on the state. Returns 'already' when it was offboarded before. */
async function markOffboarded(deps: OffboardDeps, c: Candidate, args: { by: string; at: string; reason?: string }): Promise<'marked' | 'already'> {
  const { store } = deps;
  const key = { pk: c.item.pk, sk: c.item.sk };
  if (!c.stored) {
    const item: LocationRecord = {
      ...c.item,
      state: 'offboarded',
      offboardedAt: args.at,
      offboardedBy: args.by,
      ...(args.reason !== undefined ? { offboardReason: args.reason } : {}),
    };
    try {
      await retrying(deps, 'DynamoDB PutItem (location)', () =>
        store.ddb.send(new PutCommand({ TableName: store.tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' })),
      );
      return 'marked';
    } catch (err) {
      // Materialised meanwhile (an Activate or Deactivate): mark the item it wrote.
      if (!isNamed(err, 'ConditionalCheckFailed')) throw err;
    }
  }
  try {
    await retrying(deps, 'DynamoDB UpdateItem (location)', () =>
      store.ddb.send(
        new UpdateCommand({
          TableName: store.tableName,
          Key: key,
          UpdateExpression: `SET #state = :off, offboardedAt = :at, offboardedBy = :by, updatedAt = :at${args.reason !== undefined ? ', offboardReason = :reason' : ''}`,
          ConditionExpression: '#state = :retired',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':off': 'offboarded',
            ':retired': 'retired',
            ':at': args.at,
            ':by': args.by,
            ...(args.reason !== undefined ? { ':reason': args.reason } : {}),
          },
        }),
      ),
    );
    return 'marked';
  } catch (err) {
    if (!isNamed(err, 'ConditionalCheckFailed')) throw err;
  }
  const now = await retrying(deps, 'DynamoDB GetItem (location)', async () =>
    (await store.ddb.send(new GetCommand({ TableName: store.tableName, Key: key, ConsistentRead: true }))).Item as LocationRecord | undefined,
  );
  if (now?.state === 'offboarded') return 'already';
  throw new ConfigStillServingError(
    `Location ${c.item.location} is ${now?.state ?? 'gone'} now, not retired: the backend changed while offboarding. Check binary-backends status and run offboard again.`,
  );
}

/**
 * Deletes the platform role when nothing needs it, else narrows its inline policy. Re-reads the org item and
 * the locations first, so an onboarding that started since the first read keeps its role.
 */
async function settlePlatformRole(
  deps: OffboardDeps,
  orgId: string,
  roleName: string,
  offboarding: ReadonlySet<number>,
): Promise<{ action: 'deleted' | 'kept'; allowed: string[] }> {
  const { store, iam } = deps;
  const iamRole = platformRoleName(orgId, roleName);
  for (let round = 1; ; round += 1) {
    const record = await retrying(deps, 'DynamoDB GetItem', () => getOrgRecord(store.ddb, store.tableName, orgId));
    const items = await retrying(deps, 'DynamoDB Query (locations)', () => listLocations(store.ddb, store.tableName, orgId));
    const allowed = neededCustomerRoleArns(record, items, roleName, offboarding);
    if (allowed.length > 0) {
      try {
        await retrying(deps, 'IAM PutRolePolicy', () =>
          iam.send(new PutRolePolicyCommand({ RoleName: iamRole, PolicyName: INLINE_POLICY_NAME, PolicyDocument: platformRoleInlinePolicy(allowed) })),
        );
      } catch (err) {
        // No role to narrow (removed by hand): nothing can assume anything through it; say so, do not fail.
        if (!isNamed(err, 'NoSuchEntity')) throw err;
      }
      return { action: 'kept', allowed };
    }
    try {
      await deleteRole(deps, iamRole);
      return { action: 'deleted', allowed: [] };
    } catch (err) {
      // DeleteConflict: a policy was added between our deletes (a new onboarding): look again.
      if (!isNamed(err, 'DeleteConflict') || round >= 3) throw asTransientOr(err, 'IAM DeleteRole');
    }
  }
}

/** Inline policies first (IAM refuses to delete a role that has any), then the role. NoSuchEntity = gone already. */
async function deleteRole(deps: OffboardDeps, iamRole: string): Promise<void> {
  const { iam } = deps;
  const gone = (err: unknown) => {
    if (!isNamed(err, 'NoSuchEntity')) throw err;
  };
  let marker: string | undefined;
  const names: string[] = [];
  try {
    do {
      const page = await retrying(deps, 'IAM ListRolePolicies', () => iam.send(new ListRolePoliciesCommand({ RoleName: iamRole, Marker: marker })));
      names.push(...(page.PolicyNames ?? []));
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
  } catch (err) {
    gone(err);
    return;
  }
  for (const name of names) {
    await retrying(deps, 'IAM DeleteRolePolicy', () => iam.send(new DeleteRolePolicyCommand({ RoleName: iamRole, PolicyName: name }))).catch(gone);
  }
  await retrying(deps, 'IAM DeleteRole', () => iam.send(new DeleteRoleCommand({ RoleName: iamRole }))).catch(gone);
}

/** DeleteSecret with the recovery window, then the date on every owning item. Already scheduled or gone = fine. */
async function scheduleKeyDeletion(deps: OffboardDeps, secretArn: string, owners: LocationRecord[], at: string): Promise<KeyDeletion> {
  let outcome: KeyDeletion['outcome'] = 'scheduled';
  let deletionDate: string | undefined;
  try {
    const out = await retrying(deps, 'Secrets Manager DeleteSecret', () =>
      deps.secrets.send(new DeleteSecretCommand({ SecretId: secretArn, RecoveryWindowInDays: KEY_RECOVERY_WINDOW_DAYS })),
    );
    deletionDate = out.DeletionDate ? new Date(out.DeletionDate).toISOString() : undefined;
  } catch (err) {
    if (isNamed(err, 'InvalidRequest') && /marked for deletion/i.test((err as Error).message)) outcome = 'already-scheduled';
    else if (isNamed(err, 'ResourceNotFound')) outcome = 'not-found';
    else throw err;
  }
  const { store } = deps;
  for (const item of owners) {
    try {
      await retrying(deps, 'DynamoDB UpdateItem (location)', () =>
        store.ddb.send(
          new UpdateCommand({
            TableName: store.tableName,
            Key: { pk: item.pk, sk: item.sk },
            UpdateExpression: `SET keyDeletionScheduledAt = :at, updatedAt = :at${deletionDate ? ', keyDeletionDate = :date' : ''}`,
            ConditionExpression: '#state = :off',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':at': at, ':off': 'offboarded', ...(deletionDate ? { ':date': deletionDate } : {}) },
          }),
        ),
      );
    } catch (err) {
      if (!isNamed(err, 'ConditionalCheckFailed')) throw err;
    }
  }
  return { secretArn, locations: owners.map((o) => o.location), outcome, ...(deletionDate ? { deletionDate } : {}) };
}
