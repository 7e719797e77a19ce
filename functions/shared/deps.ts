/**
 * Production dependencies shared by several handlers, built from the environment (config.ts) and the
 * container's clients (clients.ts). Handlers call these in their `once(...)` so configuration is read
 * on the first invocation.
 */
import { dynamo, eventBridge } from './clients';
import { commonConfig, loadConfig } from './config';

/** The records table through the container's client, for smoke probes of steps whose deps wrap it. */
export function recordStore() {
  return { ddb: dynamo(), tableName: loadConfig(commonConfig).TABLE_NAME };
}

/** For a step that keeps the org record and emits events: the record store, EventBridge, the bus and a clock. */
export function recordKeepingDeps() {
  const config = loadConfig(commonConfig);
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    events: eventBridge(),
    eventBusName: config.EVENT_BUS_NAME,
    clock: () => new Date(),
  };
}
