/**
 * The org record's keys and its read through an ItemReader, apart from the writes and the workflow context
 * (whose parse uses zod), so the signer can read the record without bundling zod, and without the SDK:
 * nothing here imports @aws-sdk/lib-dynamodb (a package not marked side-effect free, so merely importing it
 * keeps ~30 KB of DynamoDB client in a bundle). The read over the SDK's DocumentClient is read-sdk.ts.
 * Types are imported for the compiler only and vanish from bundles.
 */
import type { Backend, ItemReader, OrgRecord } from './model';

export const ORG_SK = 'BACKENDS' as const;

export function orgPk(orgId: string): string {
  return `ORG#${orgId}`;
}

/**
 * The org's record through an ItemReader (the signer's lean GetItem, dynamodb-fetch.ts), or undefined if the
 * org never onboarded. The reader throws TransientError on throttling.
 */
export async function readOrgRecord(items: ItemReader, tableName: string, orgId: string, consistent = true): Promise<OrgRecord | undefined> {
  return (await items.getItem(tableName, { pk: orgPk(orgId), sk: ORG_SK }, consistent)) as OrgRecord | undefined;
}

/** The backend whose name equals `roleName` ignoring case (IAM role names are case-insensitive). */
export function findBackendIgnoringCase(record: OrgRecord | undefined, roleName: string): Backend | undefined {
  if (!record) return undefined;
  const lower = roleName.toLowerCase();
  return Object.values(record.backends ?? {}).find((b) => b.roleName.toLowerCase() === lower);
}
