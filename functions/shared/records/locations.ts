/**
 * The writes of location items (docs/locations.md): materialise, put the serving one, reconcile. The item,
 * its keys and the reads live in location-read.ts (the signer bundles that one, never this one).
 *
 * Every write here is conditional and idempotent, so a retried Activate or Deactivate runs them again and
 * converges:
 * - materializeLocations / putServingLocation: PutItem with `attribute_not_exists(sk)`; an item that exists is
 *   never overwritten (its upload/download/platformRoleArn are immutable).
 * - reconcileLocations: `serving -> retired`, conditioned on `state = serving`, so two reconciles racing
 *   retire each item once, and an `offboarded` (or already `retired`) item is never touched.
 *
 * Why reconcile takes the current route from a fresh read of the org item, made AFTER it lists the items:
 * a `serving` item is only ever written for a config that was the current route at some moment (after the
 * activation write, or by materialise from a read where it was), and a config that stopped being the current
 * route never becomes it again (every activation makes a new config version). So an item listed as `serving`
 * that is not the current route at the later read has been replaced for good, and retiring it is right even
 * when another Activate or Deactivate runs at the same time. Trusting the caller's view alone would not be:
 * an Activate overtaken by a newer one would retire the newer, current route.
 *
 * Known gap (harmless to routing): an Activate overtaken by a newer activation may put its own item as
 * `serving` after the newer one reconciled; its own reconcile (next) retires it. If it dies in between, the
 * item stays `serving` until the next Activate or Deactivate of the org reconciles. Routing never depends on
 * it: the org item is the routing truth, and the signer resolves the current route from it first.
 */
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { BackendConfig, OrgRecord, RecordStore } from './model';
import { asTransientOr, awsErrorName } from '../errors';
import { orgPk } from './read';
import { getOrgRecord } from './read-sdk';
import { locationOfConfig, locationSk, type LocationRecord, type RetiredReason } from './location-read';
import { listLocations } from './location-read-sdk';

/** The org's current route as a location; undefined = default storage (no active backend, or it has no serving config). */
export function currentLocationOf(record: Pick<OrgRecord, 'active' | 'backends'> | undefined): string | undefined {
  const active = record?.active;
  if (active === undefined) return undefined;
  const serving = record?.backends?.[active]?.serving;
  return serving ? locationOfConfig(active, serving) : undefined;
}

/** The location item of one config as it served: state `serving` (the caller changes it for a retired one). */
export function locationItem(args: {
  orgId: string;
  roleName: string;
  config: BackendConfig;
  platformRoleArn: string;
  now: Date;
}): LocationRecord {
  const { orgId, roleName, config, platformRoleArn, now } = args;
  const location = locationOfConfig(roleName, config);
  const at = now.toISOString();
  return {
    pk: orgPk(orgId),
    sk: locationSk(location),
    orgId,
    location,
    roleName,
    configVersion: config.configVersion,
    state: 'serving',
    executionName: config.executionName,
    requestedBy: config.requestedBy,
    platformRoleArn,
    upload: config.upload,
    download: config.download,
    activatedAt: config.activatedAt ?? at,
    createdAt: at,
    updatedAt: at,
  };
}

/** PutItem unless the item exists. Returns whether it wrote. Throws TransientError on throttling. */
async function putIfAbsent(store: RecordStore, item: LocationRecord): Promise<boolean> {
  try {
    await store.ddb.send(new PutCommand({ TableName: store.tableName, Item: item, ConditionExpression: 'attribute_not_exists(sk)' }));
    return true;
  } catch (err) {
    if (awsErrorName(err) === 'ConditionalCheckFailedException') return false;
    throw asTransientOr(err, 'DynamoDB PutItem (location)');
  }
}

/**
 * Gives every backend's serving config in the org item that has no location item yet its item: `serving` for
 * the current route, else `retired` (`replaced` by the current route when the org routes to another backend,
 * `deactivated` when it uses default storage; retiredAt = now, retiredBy `unknown`: the retirement happened
 * before location items existed). Lists the org's items first and puts only the missing ones (each still with
 * `attribute_not_exists`, so a racing writer's item is never overwritten). Returns the locations it wrote.
 */
export async function materializeLocations(store: RecordStore, record: OrgRecord | undefined, now: Date): Promise<string[]> {
  if (!record) return [];
  const served = Object.values(record.backends ?? {}).filter((b) => b.serving);
  if (served.length === 0) return [];
  // Only the missing ones are put: a deactivation or Activate with nothing to materialise writes nothing.
  const existing = new Set((await listLocations(store.ddb, store.tableName, record.orgId)).map((i) => i.location));
  const current = currentLocationOf(record);
  const written: string[] = [];
  for (const backend of served) {
    const config = backend.serving!;
    if (existing.has(locationOfConfig(backend.roleName, config))) continue;
    const platformRoleArn = backend.platformRoleArn ?? '';
    const item = locationItem({ orgId: record.orgId, roleName: backend.roleName, config, platformRoleArn, now });
    if (item.location !== current) {
      item.state = 'retired';
      item.retiredAt = now.toISOString();
      item.retiredReason = current === undefined ? 'deactivated' : 'replaced';
      item.retiredBy = 'unknown';
      if (current !== undefined) item.replacedBy = current;
    }
    if (await putIfAbsent(store, item)) written.push(item.location);
  }
  return written;
}

/** Puts the item of a config that now serves (state `serving`). Idempotent: an existing item is left as it is. */
export async function putServingLocation(
  store: RecordStore,
  args: { orgId: string; roleName: string; config: BackendConfig; platformRoleArn: string; now: Date },
): Promise<string> {
  const item = locationItem(args);
  await putIfAbsent(store, item);
  return item.location;
}

/** One location reconcile retired. */
export interface RetiredLocation {
  location: string;
  roleName: string;
  configVersion: number;
  reason: RetiredReason;
  replacedBy?: string;
}

/**
 * Retires every `serving` item that is not the org's current route (`serving -> retired`, conditioned on
 * `state = serving`), with retiredAt, retiredReason, retiredBy and (for `replaced`) replacedBy = the current
 * route. The current route is read from the org item after listing (see the module comment);
 * `currentLocation` is the caller's view of it: when the org item says otherwise, the org item wins.
 * Returns what THIS call retired (an item another call retired first is not in it).
 */
export async function reconcileLocations(
  store: RecordStore,
  args: { orgId: string; currentLocation: string | undefined; reason: RetiredReason; by: string; now: Date },
): Promise<RetiredLocation[]> {
  const items = await listLocations(store.ddb, store.tableName, args.orgId);
  const serving = items.filter((i) => i.state === 'serving');
  if (serving.length === 0) return [];
  const current = currentLocationOf(await getOrgRecord(store.ddb, store.tableName, args.orgId));
  const at = args.now.toISOString();
  const retired: RetiredLocation[] = [];
  for (const item of serving) {
    if (item.location === current) continue;
    const replacedBy = args.reason === 'replaced' ? current : undefined;
    const values: Record<string, unknown> = {
      ':retired': 'retired',
      ':serving': 'serving',
      ':at': at,
      ':reason': args.reason,
      ':by': args.by,
    };
    let set = '#state = :retired, retiredAt = :at, retiredReason = :reason, retiredBy = :by, updatedAt = :at';
    if (replacedBy !== undefined) {
      set += ', replacedBy = :replacedBy';
      values[':replacedBy'] = replacedBy;
    }
    try {
      await store.ddb.send(
        new UpdateCommand({
          TableName: store.tableName,
          Key: { pk: item.pk, sk: item.sk },
          UpdateExpression: `SET ${set}`,
          ConditionExpression: '#state = :serving',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (err) {
      if (awsErrorName(err) === 'ConditionalCheckFailedException') continue;
      throw asTransientOr(err, 'DynamoDB UpdateItem (retire location)');
    }
    retired.push({
      location: item.location,
      roleName: item.roleName,
      configVersion: item.configVersion,
      reason: args.reason,
      ...(replacedBy !== undefined ? { replacedBy } : {}),
    });
  }
  return retired;
}

/** The customer role ARN of every location item of `roleName` that is still connected (not offboarded). */
export function connectedCustomerRoleArns(items: readonly LocationRecord[], roleName: string): string[] {
  return [...new Set(items.filter((i) => i.roleName === roleName && i.state !== 'offboarded').map((i) => i.upload.roleArn))].sort();
}
