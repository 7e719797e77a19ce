/**
 * Reading the org record (DynamoDB) for the CLI: which config belongs to an execution, and what state a
 * backend is in. Read-only: the CLI never writes the table; the starter and the workflow do.
 */
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  findBackendIgnoringCase,
  getOrgRecord,
  orgPk,
  type AuditEvent,
  type Backend,
  type BackendConfig,
  type OrgRecord,
  type UploadConfig,
  type DownloadConfig,
  listLocations,
  locationFor,
  locationOfConfig,
  type LocationRecord,
} from '../functions/public';

export { findBackendIgnoringCase, listLocations };
export type { Backend, BackendConfig, OrgRecord, LocationRecord };

export async function readOrg(ddb: DynamoDBDocumentClient, table: string, orgId: string): Promise<OrgRecord | undefined> {
  return getOrgRecord(ddb, table, orgId, true);
}

/** The config (pending or serving) that the given execution wrote, if any. */
export function configOfExecution(
  record: OrgRecord | undefined,
  roleName: string,
  executionArn: string,
): { backend: Backend; config: BackendConfig; slot: 'pending' | 'serving' } | undefined {
  const backend = findBackendIgnoringCase(record, roleName);
  if (!backend) return undefined;
  if (backend.pending?.executionArn === executionArn) return { backend, config: backend.pending, slot: 'pending' };
  if (backend.serving?.executionArn === executionArn) return { backend, config: backend.serving, slot: 'serving' };
  return undefined;
}

/** Statuses at which the platform role exists and the trust policy has been rendered for this config. */
export const TRUST_POLICY_READY_STATUSES = new Set(['AWAITING_TRUST', 'VERIFYING', 'VERIFIED', 'ACTIVE']);

/** Statuses after which the config will not change any more. */
export const FINAL_STATUSES = new Set(['ACTIVE', 'FAILED', 'ABANDONED']);

/** A config's place in its life (docs/locations.md), plus the ends of an onboarding that never served. */
export type ConfigState = 'pending' | 'serving' | 'retired' | 'offboarded' | 'failed' | 'abandoned';

/**
 * One config of a backend as `status` lists it: where it stores, and who moved it when (the retirement and
 * offboarding fields are the location item's own).
 */
export interface ConfigRow
  extends Pick<LocationRecord, 'retiredAt' | 'retiredReason' | 'retiredBy' | 'replacedBy' | 'offboardedAt' | 'offboardedBy' | 'offboardReason'> {
  roleName: string;
  configVersion: number;
  state: ConfigState;
  /** The storage location (docs/locations.md); absent for a config that has not served. */
  location?: string;
  bucket: string;
  region: string;
  prefix?: string;
  download: 's3' | 'cloudfront';
  cloudFrontHost?: string;
  requestedBy: string;
  executionName: string;
  activatedAt?: string;
  /** Where the row came from: a location item, or the org item (pending configs; legacy serving configs). */
  source: 'location-item' | 'org-item';
}


function storageOf(upload: UploadConfig, download: DownloadConfig) {
  return {
    bucket: upload.bucket,
    region: upload.region,
    ...(upload.prefix ? { prefix: upload.prefix } : {}),
    download: download.type,
    ...(download.type === 'cloudfront' ? { cloudFrontHost: download.host } : {}),
  };
}

/**
 * Every config of one backend, oldest first: the location items (the truth for configs that have served),
 * the org item's serving config when it has no item yet (records written before locations existed: the
 * next Activate or Deactivate materialises it), and the pending config.
 */
export function configsOfBackend(record: OrgRecord | undefined, backend: Backend, items: readonly LocationRecord[]): ConfigRow[] {
  const rows: ConfigRow[] = items
    .filter((i) => i.roleName === backend.roleName)
    .map((i) => ({
      roleName: i.roleName,
      configVersion: i.configVersion,
      state: i.state,
      location: i.location,
      ...storageOf(i.upload, i.download),
      requestedBy: i.requestedBy,
      executionName: i.executionName,
      activatedAt: i.activatedAt,
      retiredAt: i.retiredAt,
      retiredReason: i.retiredReason,
      retiredBy: i.retiredBy,
      replacedBy: i.replacedBy,
      offboardedAt: i.offboardedAt,
      offboardedBy: i.offboardedBy,
      offboardReason: i.offboardReason,
      source: 'location-item' as const,
    }));
  const has = (v: number) => rows.some((r) => r.configVersion === v);
  const s = backend.serving;
  if (s && !has(s.configVersion)) {
    rows.push({
      roleName: backend.roleName,
      configVersion: s.configVersion,
      // The signer reads a serving config without an item as retired unless it is the current route.
      state: record?.active === backend.roleName ? 'serving' : 'retired',
      location: locationOfConfig(backend.roleName, s),
      ...storageOf(s.upload, s.download),
      requestedBy: s.requestedBy,
      executionName: s.executionName,
      activatedAt: s.activatedAt,
      source: 'org-item',
    });
  }
  const p = backend.pending;
  if (p && !has(p.configVersion)) {
    rows.push({
      roleName: backend.roleName,
      configVersion: p.configVersion,
      state: p.status === 'FAILED' ? 'failed' : p.status === 'ABANDONED' ? 'abandoned' : 'pending',
      ...storageOf(p.upload, p.download),
      requestedBy: p.requestedBy,
      executionName: p.executionName,
      source: 'org-item',
    });
  }
  return rows.sort((a, b) => a.configVersion - b.configVersion);
}

/** Every audit event of the org (`EVENT#...`), in key order. Pages through Query. */
export async function readAuditEvents(ddb: DynamoDBDocumentClient, table: string, orgId: string): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await ddb.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
        ExpressionAttributeValues: { ':pk': orgPk(orgId), ':sk': 'EVENT#' },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    out.push(...((page?.Items ?? []) as AuditEvent[]));
    start = page?.LastEvaluatedKey;
  } while (start);
  return out;
}

/** A retirement or an offboarding, from the audit trail (docs/locations.md "Audit steps"). */
export interface StorageChange {
  at: string;
  /** `Activate` or `Deactivate` (which retired locations), or `Offboard`. */
  step: string;
  /** The execution (Activate), `deactivate-<time>` or the offboarding that wrote the event. */
  executionName: string;
  kind: 'retired' | 'offboarded';
  locations: string[];
  /** Retirements: why each location retired (`replaced` or `deactivated`). */
  retired?: { location: string; reason: string }[];
  /** Who caused it, when the event says. */
  by?: string;
  roleName?: string;
  reason?: string;
  platformRole?: string;
  keysScheduledForDeletion?: unknown[];
}

const asString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The retirements and offboardings among the org's audit events, oldest first. With `roleName`, only that
 * backend's (its locations are `b.<encoded role name>.<n>`, identifiers.ts `locationFor`).
 */
export function storageChanges(events: readonly AuditEvent[], roleName?: string): StorageChange[] {
  const prefix = roleName === undefined ? undefined : locationFor(roleName, 1).replace(/1$/, '');
  const mine = (loc: string) => prefix === undefined || loc.toLowerCase().startsWith(prefix.toLowerCase());
  const out: StorageChange[] = [];
  for (const ev of events) {
    const d = (ev.detail ?? {}) as Record<string, unknown>;
    if (ev.step === 'Offboard') {
      const locations = (Array.isArray(d.locations) ? d.locations : []).filter((l): l is string => typeof l === 'string');
      if (roleName !== undefined && asString(d.roleName)?.toLowerCase() !== roleName.toLowerCase() && !locations.some(mine)) continue;
      out.push({
        at: ev.at,
        step: ev.step,
        executionName: ev.executionName,
        kind: 'offboarded',
        locations,
        by: asString(d.by),
        roleName: asString(d.roleName),
        reason: asString(d.reason),
        platformRole: asString(d.platformRole),
        keysScheduledForDeletion: Array.isArray(d.keysScheduledForDeletion) ? d.keysScheduledForDeletion : undefined,
      });
    } else if ((ev.step === 'Activate' || ev.step === 'Deactivate') && Array.isArray(d.retired)) {
      const retired = (d.retired as unknown[])
        .map((r) => r as { location?: unknown; reason?: unknown })
        .filter((r) => typeof r?.location === 'string' && mine(r.location as string))
        .map((r) => ({ location: r.location as string, reason: asString(r.reason) ?? 'unknown' }));
      if (retired.length === 0) continue;
      out.push({
        at: ev.at,
        step: ev.step,
        executionName: ev.executionName,
        kind: 'retired',
        locations: retired.map((r) => r.location),
        retired,
        by: asString(d.by) ?? asString(d.retiredBy) ?? asString(d.requestedBy),
      });
    }
  }
  return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}
