/**
 * The location reads over the SDK's DocumentClient (everything but the signer): apart from location-read.ts so
 * that the signer, which imports the item's keys and types, does not bundle @aws-sdk/lib-dynamodb.
 */
import { GetCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { asTransientOr } from '../errors';
import { LOCATION_SK_PREFIX, type ItemReader, type LocationRecord } from './location-read';
import { orgPk } from './read';

/** An ItemReader over the SDK's DocumentClient. Throws TransientError on throttling. */
export function documentClientReader(ddb: DynamoDBDocumentClient): ItemReader {
  return {
    async getItem(tableName, key, consistent) {
      try {
        const out = await ddb.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: consistent }));
        return out.Item;
      } catch (err) {
        throw asTransientOr(err, 'DynamoDB GetItem');
      }
    },
  };
}

/** Every location item of an org (all backends), oldest config first within a backend. Pages through Query. */
export async function listLocations(ddb: DynamoDBDocumentClient, tableName: string, orgId: string): Promise<LocationRecord[]> {
  const out: LocationRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    let page;
    try {
      page = await ddb.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :sk)',
          ExpressionAttributeValues: { ':pk': orgPk(orgId), ':sk': LOCATION_SK_PREFIX },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
    } catch (err) {
      throw asTransientOr(err, 'DynamoDB Query (locations)');
    }
    out.push(...((page.Items ?? []) as LocationRecord[]));
    start = page.LastEvaluatedKey;
  } while (start);
  return out.sort((a, b) => (a.roleName === b.roleName ? a.configVersion - b.configVersion : a.roleName < b.roleName ? -1 : 1));
}
