/**
 * Storage locations (docs/locations.md): where a binary really lives. `default` is Peridio's default storage
 * (`orgs/<orgId>/` in the default bucket); every config that has ever served has its own location,
 * `b.<encoded role name>.<configVersion>` (identifiers.ts `locationFor`), kept as ONE immutable item per config:
 *
 *   pk "ORG#<orgId>"  sk "LOCATION#<location>"      LocationRecord below (~1-2 KB, so hundreds of
 *                                                   re-onboardings never approach DynamoDB's 400 KB item limit)
 *
 * The org item (read.ts) stays the truth for *routing*: the current route is its active backend's
 * serving config, whose `location` field names it. A location item only ever changes `state` (and the
 * who/when/why fields of that change): serving -> retired -> offboarded. Its `upload`/`download`/
 * `platformRoleArn` are a copy of the config as it served and never change.
 *
 * This module has no zod, no write and no SDK import, so the signer can bundle it: the reads over the SDK's
 * DocumentClient are in location-read-sdk.ts (importing @aws-sdk/lib-dynamodb at all keeps ~30 KB of DynamoDB
 * client in a bundle), and the writes in locations.ts.
 * Nothing secret is stored: CloudFront keys are referenced by Secrets Manager ARN (+ version).
 */
import type { BackendConfig, DownloadConfig, ItemReader, UploadConfig } from './model';
import { orgPk } from './read';

import { locationFor } from '../identifiers';

export { DEFAULT_LOCATION, LOCATION_PATTERN, locationFor } from '../identifiers';

/** The location of a config of backend `roleName`: the one stored on it, else computed (records from before locations). */
export function locationOfConfig(roleName: string, config: Pick<BackendConfig, 'configVersion' | 'location'>): string {
  return config.location ?? locationFor(roleName, config.configVersion);
}

export const LOCATION_SK_PREFIX = 'LOCATION#';

export function locationSk(location: string): string {
  return `${LOCATION_SK_PREFIX}${location}`;
}

/** serving: the org's current route; retired: downloads only; offboarded: disconnected for good. */
export type LocationState = 'serving' | 'retired' | 'offboarded';

/** Why a location stopped serving. */
export type RetiredReason = 'replaced' | 'deactivated';

export interface LocationRecord {
  pk: string;
  sk: string;
  orgId: string;
  location: string;
  /** The backend (customer role name as support typed it). */
  roleName: string;
  configVersion: number;
  state: LocationState;
  /** The onboarding that produced this config, and who asked for it. */
  executionName: string;
  requestedBy: string;
  /** The platform role in Peridio's account: `binary_backend_<orgId>_<roleName>` (one per backend). */
  platformRoleArn: string;
  /** Immutable copy of the config as it served. */
  upload: UploadConfig;
  download: DownloadConfig;
  activatedAt: string;
  retiredAt?: string;
  retiredReason?: RetiredReason;
  /** Who caused the retirement (the re-onboarding's requester, or the deactivation's caller). */
  retiredBy?: string;
  /** The location that replaced this one (reason `replaced`). */
  replacedBy?: string;
  offboardedAt?: string;
  offboardedBy?: string;
  offboardReason?: string;
  /** When the CloudFront private key's secret was scheduled for deletion, and the date it goes. */
  keyDeletionScheduledAt?: string;
  keyDeletionDate?: string;
  createdAt: string;
  updatedAt: string;
}

/** The one read the signer needs (model.ts). */
export type { ItemReader } from './model';

/** One location of one org, or undefined. Isolation by construction: the key carries the org. */
export async function getLocationRecord(
  reader: ItemReader,
  tableName: string,
  orgId: string,
  location: string,
  consistent = true,
): Promise<LocationRecord | undefined> {
  const item = await reader.getItem(tableName, { pk: orgPk(orgId), sk: locationSk(location) }, consistent);
  return item as LocationRecord | undefined;
}
