/**
 * The org record's read over the SDK's DocumentClient (everything but the signer). Apart from read.ts so
 * that importing the record's keys does not bring @aws-sdk/lib-dynamodb into the signer's bundle.
 */
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { OrgRecord } from './model';
import { asTransientOr } from '../errors';
import { ORG_SK, orgPk } from './read';

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
