/**
 * An in-process DynamoDB (dynalite) with one pk/sk table, for unit tests of code that writes the
 * backend records. Start it once per suite (`beforeAll`), reset the table per test with `clear()`.
 */
import dynalite from 'dynalite';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
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

/**
 * The setup most step tests share, registered in the calling `describe`: one records table for the file
 * (started before all, stopped after all, emptied before each test) and an EventBridge mock, reset before
 * each test and accepting PutEvents unless `acceptEvents: false`. Its hooks run before the file's own
 * `beforeEach`, so a file seeds the table after it was emptied.
 *
 * `table` can be handed to code at describe time (`store: table`): it forwards to the table once started.
 */
export function useRecordsTableAndEventBus(options: { acceptEvents?: boolean } = {}): {
  table: RecordsTable;
  eventsMock: AwsClientStub<EventBridgeClient>;
} {
  const eventsMock = mockClient(EventBridgeClient);
  let started: RecordsTable | undefined;
  const current = (): RecordsTable => {
    if (!started) throw new Error('The records table is used before beforeAll started it');
    return started;
  };
  const table: RecordsTable = {
    get ddb() {
      return current().ddb;
    },
    get raw() {
      return current().raw;
    },
    get tableName() {
      return current().tableName;
    },
    clear: () => current().clear(),
    stop: () => current().stop(),
  };
  beforeAll(async () => {
    started = await startRecordsTable();
  });
  afterAll(async () => {
    eventsMock.restore();
    await started?.stop();
  });
  beforeEach(async () => {
    eventsMock.reset();
    if (options.acceptEvents !== false) eventsMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    await table.clear();
  });
  return { table, eventsMock };
}
