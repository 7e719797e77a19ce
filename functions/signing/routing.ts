/**
 * Where an org's binaries live.
 *
 * - The **current route** (no `location` in the request, and every upload): the org's active custom backend's
 *   *serving* config (never a pending one), or Peridio's default storage under `orgs/<orgId>/`. One GetItem per
 *   org, cached for a short TTL (CONFIG_CACHE_TTL_SECONDS, default 30 s), so a burst of thousands of URLs reads
 *   DynamoDB once.
 * - A **location** (docs/locations.md), when the request names one: `default` is default storage; the current
 *   route's own location is the current route; anything else is the org's location item
 *   (`ORG#<orgId>` / `LOCATION#<location>`: the key carries the org, so another org's location simply does not
 *   exist here). Location items are cached per org + location for the same TTL, misses included, so a warm
 *   location costs no network call per URL either.
 *
 * Why 30 s: activation, re-onboarding, deactivation and offboarding take effect in every warm signer within
 * that time, and at one GetItem per org (and per location in use) per 30 s per container the table cost is
 * negligible. Concurrent misses for the same key share one GetItem.
 */
import type { DownloadConfig, OrgRecord, UploadConfig } from '#shared/records/model';
import { BackendNotFoundError, LocationOffboardedError, ValidationError } from '#shared/errors';
import { DEFAULT_LOCATION, defaultStoragePrefix } from '#shared/identifiers';
import { getLocationRecord, locationOfConfig, type ItemReader, type LocationRecord } from '#shared/records/location-read';
import { readOrgRecord } from '#shared/records/read';
import { TtlCache } from '#shared/ttl-cache';

export interface DefaultRoute {
  storage: 'default';
  /** Always `default`. */
  location: string;
  bucket: string;
  region: string;
  /** `orgs/<orgId>/`: tenants are isolated by construction. */
  prefix: string;
  signerRoleArn: string;
  download: { type: 's3' };
}

export interface CustomRoute {
  storage: 'custom';
  /** The config's location: `serving.location`, or `locationFor(roleName, configVersion)` for older records. */
  location: string;
  roleName: string;
  configVersion: number;
  bucket: string;
  region: string;
  /** The config's optional prefix, or ''. */
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

/** Default storage for one org: the default bucket under `orgs/<orgId>/`. */
export function defaultRoute(orgId: string, defaults: DefaultStorage): DefaultRoute {
  return {
    storage: 'default',
    location: DEFAULT_LOCATION,
    bucket: defaults.bucket,
    region: defaults.region,
    prefix: defaultStoragePrefix(orgId),
    signerRoleArn: defaults.signerRoleArn,
    download: { type: 's3' },
  };
}

/** A custom route: the config's bucket, prefix and download, and its chain (platform role -> `upload.roleArn`). */
function customRoute(
  location: string,
  roleName: string,
  configVersion: number,
  platformRoleArn: string,
  upload: UploadConfig,
  download: DownloadConfig,
): CustomRoute {
  return {
    storage: 'custom',
    location,
    roleName,
    configVersion,
    bucket: upload.bucket,
    region: upload.region,
    prefix: upload.prefix ?? '',
    platformRoleArn,
    customerRoleArn: upload.roleArn,
    download,
  };
}

/**
 * The route for an org record. Only `active` + its backend's `serving` config routes to custom storage.
 * An `active` that names no serving config is a broken record: rather than send the org to default
 * storage, where its binaries do not live, it throws BackendNotFoundError.
 */
export function routeFor(orgId: string, record: OrgRecord | undefined, defaults: DefaultStorage): Route {
  if (!record?.active) return defaultRoute(orgId, defaults);
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
  const roleName = backend.roleName ?? record.active;
  return customRoute(locationOfConfig(roleName, serving), roleName, serving.configVersion, backend.platformRoleArn, serving.upload, serving.download);
}

/**
 * The route of a location item in state `serving` or `retired`: the config as it served, with its own
 * credential chain (platform role -> `upload.roleArn`, ExternalId = org ID). Throws LocationOffboardedError
 * for an offboarded one, BackendNotFoundError for an item that is not this org's or not usable.
 */
export function routeForLocationItem(orgId: string, location: string, item: LocationRecord): CustomRoute {
  // The key carries the org and the location, so a mismatch is a broken item, never a reason to sign elsewhere;
  // so is an unknown state or a missing bucket, role or download config.
  const usable =
    item.orgId === orgId &&
    item.location === location &&
    (item.state === 'offboarded' || ((item.state === 'serving' || item.state === 'retired') && !!(item.platformRoleArn && item.upload?.bucket && item.upload.roleArn && item.download)));
  if (!usable) {
    throw new BackendNotFoundError(
      `The location item ${location} of org ${orgId} is broken (state ${JSON.stringify(item.state)}); refusing to sign`,
    );
  }
  if (item.state === 'offboarded') {
    const reason = item.offboardReason ? `: ${item.offboardReason}` : ' (no reason given)';
    throw new LocationOffboardedError(
      `Location ${location} of org ${orgId} (backend "${item.roleName}", config ${item.configVersion}) was offboarded ` +
        `at ${item.offboardedAt ?? '(unknown time)'} by ${item.offboardedBy ?? '(unknown)'}${reason}; its storage is ` +
        `disconnected for good and no URL was signed`,
    );
  }
  return customRoute(location, item.roleName, item.configVersion, item.platformRoleArn, item.upload, item.download);
}

/**
 * A location that has no item yet (the org's records predate locations and no Activate or Deactivate has
 * materialised them since): a backend's `serving` config in the org item whose location it is. Pending
 * configs never count. Undefined when no serving config has that location.
 */
export function legacyLocationRoute(orgId: string, record: OrgRecord | undefined, location: string): CustomRoute | undefined {
  for (const [name, backend] of Object.entries(record?.backends ?? {})) {
    const serving = backend.serving;
    const roleName = backend.roleName ?? name;
    if (!serving || locationOfConfig(roleName, serving) !== location) continue;
    if (!backend.platformRoleArn) {
      throw new BackendNotFoundError(`Org ${orgId} backend "${roleName}" has no platform role ARN; refusing to sign`);
    }
    return customRoute(location, roleName, serving.configVersion, backend.platformRoleArn, serving.upload, serving.download);
  }
  return undefined;
}

/** An org route as cached, with the record it came from and the read's sequence number (see LocationCache). */
export interface OrgView {
  route: Route;
  record: OrgRecord | undefined;
  /** RouteCache.reads when this record's read completed. */
  readSeq: number;
}

export interface RouteCacheDeps {
  items: ItemReader;
  tableName: string;
  defaults: DefaultStorage;
  ttlSeconds: number;
  clock: () => Date;
}

/** Per-org route cache with a fixed TTL (ttl-cache.ts: single flight, failures not cached). Counts GetItem calls. */
export class RouteCache {
  private readonly cache: TtlCache<OrgView>;
  /** Org reads completed so far, in this cache: orders an org read against location reads. */
  reads = 0;

  constructor(private readonly deps: RouteCacheDeps) {
    this.cache = new TtlCache<OrgView>({ now: () => deps.clock().getTime(), ttlMs: deps.ttlSeconds * 1000 });
  }

  /** GetItem calls made, for tests and benchmarks. */
  get getItemCalls(): number {
    return this.cache.stats.loads;
  }

  /** The org's route and record, from cache while younger than the TTL. Throws TransientError, BackendNotFoundError. */
  view(orgId: string): Promise<OrgView> {
    return this.cache.get(orgId, async () => {
      const record = await readOrgRecord(this.deps.items, this.deps.tableName, orgId);
      const route = routeFor(orgId, record, this.deps.defaults);
      return { route, record, readSeq: ++this.reads };
    });
  }

  /** Forget one org's route (e.g. after its customer's trust broke), or every route. */
  invalidate(orgId?: string): void {
    this.cache.delete(orgId);
  }
}

/** One location item as cached: present or not (a miss is cached too), and when its read started. */
export interface LocationLookup {
  item: LocationRecord | undefined;
  /** RouteCache.reads when this read *started*: every org read numbered up to it had completed before. */
  startedAfterOrgRead: number;
}

export interface LocationCacheDeps {
  items: ItemReader;
  tableName: string;
  ttlSeconds: number;
  clock: () => Date;
  /** The org reads completed so far (RouteCache.reads). */
  orgReads: () => number;
}

/** Per org + location cache of location items, misses included, with the route cache's TTL; single flight. */
export class LocationCache {
  private readonly cache: TtlCache<LocationLookup>;

  constructor(private readonly deps: LocationCacheDeps) {
    this.cache = new TtlCache<LocationLookup>({ now: () => deps.clock().getTime(), ttlMs: deps.ttlSeconds * 1000 });
  }

  /** GetItem calls made, for tests and benchmarks. */
  get getItemCalls(): number {
    return this.cache.stats.loads;
  }

  /**
   * The org's item for `location` (or its absence), from cache while younger than the TTL. With `notBefore`,
   * only a read that started after org read number `notBefore` completed will do: an older cached one is read
   * again, and an older one in flight is waited for, then read again (concurrent callers share that read).
   */
  get(orgId: string, location: string, notBefore = 0): Promise<LocationLookup> {
    return this.cache.get(
      `${orgId}|${location}`,
      async () => {
        const startedAfterOrgRead = this.deps.orgReads();
        const item = await getLocationRecord(this.deps.items, this.deps.tableName, orgId, location);
        return { item, startedAfterOrgRead };
      },
      notBefore > 0 ? (lookup) => lookup.startedAfterOrgRead >= notBefore : undefined,
    );
  }
}

/** The route cache and the location cache together: what a request's `location` resolves to. */
export class Router {
  readonly routes: RouteCache;
  readonly locations: LocationCache;

  constructor(private readonly deps: RouteCacheDeps) {
    this.routes = new RouteCache(deps);
    this.locations = new LocationCache({ ...deps, orgReads: () => this.routes.reads });
  }

  get getItemCalls(): number {
    return this.routes.getItemCalls + this.locations.getItemCalls;
  }

  /** The org's current route (uploads, and requests without `location`). */
  async current(orgId: string): Promise<Route> {
    return (await this.routes.view(orgId)).route;
  }

  /**
   * The route for an explicit location of this org. `default` -> default storage; the current route's
   * location -> the current route; otherwise the org's location item (`serving` or `retired`), or, with no
   * item yet, a backend's serving config in the org item that has that location. Throws
   * LocationOffboardedError for an offboarded location, ValidationError naming `location` when the org has
   * no such location. Never another location's route.
   */
  async forLocation(orgId: string, location: string): Promise<Route> {
    if (location === DEFAULT_LOCATION) return defaultRoute(orgId, this.deps.defaults);
    const org = await this.routes.view(orgId);
    if (org.route.location === location) return org.route;
    let lookup = await this.locations.get(orgId, location);
    if (!lookup.item && lookup.startedAfterOrgRead < org.readSeq) {
      // A cached miss older than the org record in hand: an Activate may have materialised the item before
      // the org item we now see moved on (docs/locations.md "Writes"), so ask again rather than wrongly
      // answer "no such location". Costs at most one GetItem per org refresh for an unknown location.
      if (!legacyLocationRoute(orgId, org.record, location)) lookup = await this.locations.get(orgId, location, org.readSeq);
    }
    if (lookup.item) return routeForLocationItem(orgId, location, lookup.item);
    const legacy = legacyLocationRoute(orgId, org.record, location);
    if (legacy) return legacy;
    throw new ValidationError(`location: no such location for org ${orgId} (got ${JSON.stringify(location)})`, ['location']);
  }
}
