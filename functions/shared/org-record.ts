/**
 * The org record's keys and its one read, apart from backend-records.ts (whose mutations validate with
 * zod), so the signer can read the record without bundling zod. Types are imported for the compiler
 * only and vanish from bundles.
 */
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Backend, OrgRecord } from './backend-records';
import { asTransientOr } from './errors';
import type { ItemReader } from './location-record';

export const ORG_SK = 'BACKENDS' as const;

export function orgPk(orgId: string): string {
  return `ORG#${orgId}`;
}

export function auditSk(executionName: string, step: string, attempt: number): string {
  return `EVENT#${executionName}#${step}#${attempt}`;
}

/** The org's record, or undefined if the org never onboarded. Throws TransientError on throttling. */
export async function getOrgRecord(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  orgId: string,
  consistent = true,
): Promise<OrgRecord | undefined> {
  try {
    const out = await ddb.send(
      new GetCommand({ TableName: tableName, Key: { pk: orgPk(orgId), sk: ORG_SK }, ConsistentRead: consistent }),
    );
    return out.Item as OrgRecord | undefined;
  } catch (err) {
    throw asTransientOr(err, 'DynamoDB GetItem');
  }
}

/**
 * The org's record through an ItemReader (location-record.ts), or undefined if the org never onboarded. The
 * signer reads this way, so its DynamoDB client can be something smaller than the DocumentClient; the reader
 * throws TransientError on throttling.
 */
export async function readOrgRecord(reader: ItemReader, tableName: string, orgId: string, consistent = true): Promise<OrgRecord | undefined> {
  return (await reader.getItem(tableName, { pk: orgPk(orgId), sk: ORG_SK }, consistent)) as OrgRecord | undefined;
}

/** The backend whose name equals `roleName` ignoring case (IAM role names are case-insensitive). */
export function findBackendIgnoringCase(record: OrgRecord | undefined, roleName: string): Backend | undefined {
  if (!record) return undefined;
  const lower = roleName.toLowerCase();
  return Object.values(record.backends ?? {}).find((b) => b.roleName.toLowerCase() === lower);
}
