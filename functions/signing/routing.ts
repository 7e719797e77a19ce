/**
 * Where an org's binaries live: its active custom backend's *serving* config (never a pending one), or
 * Peridio's default storage under `orgs/<orgId>/`. One GetItem per org, cached for a short TTL
 * (CONFIG_CACHE_TTL_SECONDS, default 30 s), so a burst of thousands of URLs reads DynamoDB once.
 *
 * Why 30 s: activation, re-onboarding and deactivation take effect in every warm signer within that
 * time, and at one GetItem per org per 30 s per container the table cost is negligible. Concurrent
 * misses for the same org share one GetItem.
 */
import type { DownloadConfig, OrgRecord } from '#shared/backend-records';
import { BackendNotFoundError } from '#shared/errors';
import type { ItemReader } from '#shared/location-record';
import { readOrgRecord } from '#shared/org-record';
import { defaultStoragePrefix } from '#shared/identifiers';

export interface DefaultRoute {
  storage: 'default';
  bucket: string;
  region: string;
  /** `orgs/<orgId>/`: tenants are isolated by construction. */
  prefix: string;
  signerRoleArn: string;
  download: { type: 's3' };
}

export interface CustomRoute {
  storage: 'custom';
  roleName: string;
  configVersion: number;
  bucket: string;
  region: string;
  /** The serving config's optional prefix, or ''. */
  prefix: string;
  platformRoleArn: string;
  customerRoleArn: string;
  download: DownloadConfig;
}

export type Route = DefaultRoute | CustomRoute;

export interface DefaultStorage {
  bucket: string;
  region: string;
  signerRoleArn: string;
}

/**
 * The route for an org record. Only `active` + its backend's `serving` config routes to custom storage.
 * An `active` that names no serving config is a broken record: rather than send the org to default
 * storage, where its binaries do not live, it throws BackendNotFoundError.
 */
export function routeFor(orgId: string, record: OrgRecord | undefined, defaults: DefaultStorage): Route {
  if (!record?.active) {
    return {
      storage: 'default',
      bucket: defaults.bucket,
      region: defaults.region,
      prefix: defaultStoragePrefix(orgId),
      signerRoleArn: defaults.signerRoleArn,
      download: { type: 's3' },
    };
  }
  const backend = record.backends?.[record.active];
  const serving = backend?.serving;
  if (!backend || !serving) {
    throw new BackendNotFoundError(
      `Org ${orgId} routes to backend "${record.active}", which has no serving config; refusing to sign rather than fall back to default storage`,
    );
  }
  if (!backend.platformRoleArn) {
    throw new BackendNotFoundError(
      `Org ${orgId} backend "${record.active}" has no platform role ARN; refusing to sign rather than fall back to default storage`,
    );
  }
  return {
    storage: 'custom',
    roleName: backend.roleName ?? record.active,
    configVersion: serving.configVersion,
    bucket: serving.upload.bucket,
    region: serving.upload.region,
    prefix: serving.upload.prefix ?? '',
    platformRoleArn: backend.platformRoleArn,
    customerRoleArn: serving.upload.roleArn,
    download: serving.download,
  };
}

interface RouteEntry {
  route?: Route;
  fetchedAtMs: number;
  inflight?: Promise<Route>;
}

export interface RouteCacheDeps {
  items: ItemReader;
  tableName: string;
  defaults: DefaultStorage;
  ttlSeconds: number;
  clock: () => Date;
}

/** Per-org route cache with a fixed TTL. Counts GetItem calls for tests and benchmarks. */
export class RouteCache {
  private readonly entries = new Map<string, RouteEntry>();
  getItemCalls = 0;

  constructor(private readonly deps: RouteCacheDeps) {}

  /** The org's route, from cache while younger than the TTL. Throws TransientError, BackendNotFoundError. */
  get(orgId: string): Promise<Route> {
    const now = this.deps.clock().getTime();
    const entry = this.entries.get(orgId);
    if (entry?.route && now - entry.fetchedAtMs < this.deps.ttlSeconds * 1000) return Promise.resolve(entry.route);
    if (entry?.inflight) return entry.inflight;
    const next: RouteEntry = entry ?? { fetchedAtMs: 0 };
    this.entries.set(orgId, next);
    this.getItemCalls += 1;
    const inflight = readOrgRecord(this.deps.items, this.deps.tableName, orgId).then(
      (record) => {
        const route = routeFor(orgId, record, this.deps.defaults);
        next.route = route;
        next.fetchedAtMs = now;
        next.inflight = undefined;
        return route;
      },
      (err: unknown) => {
        next.inflight = undefined;
        throw err;
      },
    );
    next.inflight = inflight;
    return inflight;
  }

  /** Forget one org's route (e.g. after its customer's trust broke), or every route. */
  invalidate(orgId?: string): void {
    if (orgId === undefined) this.entries.clear();
    else this.entries.delete(orgId);
  }
}
