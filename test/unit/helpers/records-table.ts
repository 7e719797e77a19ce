/**
 * An in-process DynamoDB (dynalite) with one pk/sk table, for unit tests of code that writes the
 * backend records. Start it once per suite (`beforeAll`), reset the table per test with `clear()`.
 */
import dynalite from 'dynalite';
import { BatchWriteItemCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { createRecordsTable } from '../../../local/records-table';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AddressInfo } from 'node:net';
import type { RecordStore } from '#shared/records/model';

export interface RecordsTable extends RecordStore {
  raw: DynamoDBClient;
  clear(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRecordsTable(tableName = 'binary-backends-test'): Promise<RecordsTable> {
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const raw = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const ddb = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  await createRecordsTable(raw, tableName);
  return {
    ddb,
    raw,
    tableName,
    // Deleting the items is several times faster than dropping and recreating the table in dynalite.
    async clear() {
      const { Items = [] } = await raw.send(new ScanCommand({ TableName: tableName, ProjectionExpression: 'pk, sk' }));
      for (let i = 0; i < Items.length; i += 25) {
        await raw.send(
          new BatchWriteItemCommand({
            RequestItems: { [tableName]: Items.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } })) },
          }),
        );
      }
    },
    async stop() {
      raw.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
