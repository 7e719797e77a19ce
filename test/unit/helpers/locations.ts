/**
 * Fixtures for the signer's storage locations (docs/locations.md): org items, location items, and an in-memory
 * ItemReader that counts its reads by kind. The steps of an Activate (materialise, flip, put, reconcile) are
 * written here exactly as docs/locations.md orders them, so race tests can interleave reads between them.
 */
import type { BackendConfig, DownloadConfig, OrgRecord, UploadConfig } from '#shared/records/model';
import { locationFor } from '#shared/identifiers';
import { locationSk, type ItemReader, type LocationRecord, type LocationState } from '#shared/records/location-read';

export const PLATFORM_ACCOUNT = '111111111111';
export const CUSTOMER_ACCOUNT = '222222222222';

export function platformRoleFor(orgId: string, roleName: string): string {
  return `arn:aws:iam::${PLATFORM_ACCOUNT}:role/binary_backend_${orgId}_${roleName}`;
}

export interface ConfigSpec {
  configVersion: number;
  bucket: string;
  region?: string;
  prefix?: string;
  customerRoleArn?: string;
  download?: DownloadConfig;
  /** Set `serving.location` (as Activate does since issue 11); omitted: a record from before locations. */
  withLocation?: boolean;
}

export function uploadOf(spec: ConfigSpec): UploadConfig {
  return {
    bucket: spec.bucket,
    region: spec.region ?? 'eu-west-1',
    roleArn: spec.customerRoleArn ?? `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PeridioBinaries`,
    accountId: CUSTOMER_ACCOUNT,
    ...(spec.prefix !== undefined ? { prefix: spec.prefix } : {}),
  };
}

export function backendConfig(roleName: string, spec: ConfigSpec): BackendConfig {
  return {
    configVersion: spec.configVersion,
    executionArn: `arn:aws:states:us-east-1:${PLATFORM_ACCOUNT}:execution:onboarding:x-${spec.configVersion}`,
    executionName: `x-${spec.configVersion}`,
    status: 'ACTIVE',
    requestedBy: 'support',
    startedAt: '2026-11-01T00:00:00Z',
    trustDeadlineAt: '2026-11-08T00:00:00Z',
    attempts: 1,
    upload: uploadOf(spec),
    download: spec.download ?? { type: 's3' },
    checks: [],
    createdAt: '2026-11-01T00:00:00Z',
    updatedAt: '2026-11-01T00:00:00Z',
    activatedAt: '2026-11-01T00:00:00Z',
    ...(spec.withLocation ? { location: locationFor(roleName, spec.configVersion) } : {}),
  };
}

/** An org item: `backends` maps each backend name to its serving config; `active` names the current one. */
export function orgItem(orgId: string, active: string | undefined, backends: Record<string, ConfigSpec | undefined>, pending: Record<string, ConfigSpec> = {}): OrgRecord {
  return {
    pk: `ORG#${orgId}`,
    sk: 'BACKENDS',
    orgId,
    ...(active ? { active } : {}),
    version: 1,
    updatedAt: '2026-11-01T00:00:00Z',
    backends: Object.fromEntries(
      Object.entries(backends).map(([name, spec]) => [
        name,
        {
          roleName: name,
          platformRoleArn: platformRoleFor(orgId, name),
          lastConfigVersion: Math.max(spec?.configVersion ?? 0, pending[name]?.configVersion ?? 0),
          ...(spec ? { serving: backendConfig(name, spec) } : {}),
          ...(pending[name] ? { pending: { ...backendConfig(name, pending[name]!), status: 'VERIFYING' as const } } : {}),
        },
      ]),
    ),
  };
}

export function locationItem(
  orgId: string,
  roleName: string,
  spec: ConfigSpec,
  state: LocationState,
  extra: Partial<LocationRecord> = {},
): LocationRecord {
  const location = locationFor(roleName, spec.configVersion);
  return {
    pk: `ORG#${orgId}`,
    sk: locationSk(location),
    orgId,
    location,
    roleName,
    configVersion: spec.configVersion,
    state,
    executionName: `x-${spec.configVersion}`,
    requestedBy: 'support',
    platformRoleArn: platformRoleFor(orgId, roleName),
    upload: uploadOf(spec),
    download: spec.download ?? { type: 's3' },
    activatedAt: '2026-11-01T00:00:00Z',
    createdAt: '2026-11-01T00:00:00Z',
    updatedAt: '2026-11-01T00:00:00Z',
    ...extra,
  };
}

/** The records table in memory, behind the signer's ItemReader. Every read returns a copy. */
export class MemoryItems implements ItemReader {
  readonly items = new Map<string, Record<string, unknown>>();
  orgReads = 0;
  locationReads = 0;
  /** Keys read, in order (`<pk>|<sk>`). */
  readonly log: string[] = [];
  /** Awaited before each read is answered (race tests hand control to a scheduler here). */
  beforeRead: () => Promise<void> = () => Promise.resolve();

  put(item: { pk: string; sk: string }): void {
    this.items.set(`${item.pk}|${item.sk}`, structuredClone(item) as Record<string, unknown>);
  }

  update(pk: string, sk: string, fields: Record<string, unknown>): void {
    const item = this.items.get(`${pk}|${sk}`);
    if (!item) throw new Error(`no item ${pk}|${sk}`);
    this.items.set(`${pk}|${sk}`, { ...item, ...structuredClone(fields) });
  }

  async getItem(_table: string, key: { pk: string; sk: string }): Promise<Record<string, unknown> | undefined> {
    if (key.sk === 'BACKENDS') this.orgReads += 1;
    else this.locationReads += 1;
    this.log.push(`${key.pk}|${key.sk}`);
    await this.beforeRead();
    const item = this.items.get(`${key.pk}|${key.sk}`);
    return item && structuredClone(item);
  }

  get reads(): number {
    return this.orgReads + this.locationReads;
  }
}

/**
 * A re-onboarding of backend `roleName` from `from` to `to`, as Activate writes it (docs/locations.md
 * "Writes"): (1) materialise the old config's item as serving, (2) the conditional flip of the org item,
 * (3) put the new config's item, (4) reconcile: the old item becomes retired.
 */
export function reonboardSteps(items: MemoryItems, orgId: string, roleName: string, from: ConfigSpec, to: ConfigSpec): (() => void)[] {
  const oldLocation = locationFor(roleName, from.configVersion);
  const newLocation = locationFor(roleName, to.configVersion);
  return [
    () => {
      if (!items.items.has(`ORG#${orgId}|${locationSk(oldLocation)}`)) items.put(locationItem(orgId, roleName, from, 'serving'));
    },
    () => items.put(orgItem(orgId, roleName, { [roleName]: { ...to, withLocation: true } })),
    () => items.put(locationItem(orgId, roleName, to, 'serving')),
    () =>
      items.update(`ORG#${orgId}`, locationSk(oldLocation), {
        state: 'retired',
        retiredAt: '2026-12-02T00:00:00Z',
        retiredReason: 'replaced',
        replacedBy: newLocation,
        retiredBy: 'support',
      }),
  ];
}
