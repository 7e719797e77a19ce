/**
 * VerifyDownload Lambda: middy glue around `verifyDownload`. `createHandler(deps)` lets tests and the
 * local stack inject clients, an HTTP fetch and a clock; `handler` builds the real ones on first use.
 */
import { commonConfig, loadConfig } from '#shared/config';
import { dynamo, secretsManager, sts, stsWith } from '#shared/clients';
import { CredentialBroker } from '#shared/credential-broker';
import { recordStore } from '#shared/deps';
import { handlerFor, once } from '#shared/handler';
import { stsIdentityProbe, tableProbes } from '#shared/smoke-probes';
import { parseStepInput } from '#shared/records/workflow-context';
import { recorderFor } from '#shared/canary';
import { cloudFrontKeyLoader, verifyDownload, type VerifyDownloadDeps, type VerifyDownloadResult } from './verify-download';

export const createHandler = handlerFor<VerifyDownloadDeps, VerifyDownloadResult>(
  (event, deps) => verifyDownload(parseStepInput(event), deps),
  () => [...tableProbes(recordStore(), ['GetItem', 'UpdateItem']), stsIdentityProbe(sts())],
);

function defaultDeps(): VerifyDownloadDeps {
  const config = loadConfig(commonConfig);
  const clock = () => new Date();
  const broker = new CredentialBroker({ sts, stsWith, clock });
  return {
    customerCredentials: (chain) => broker.customerCredentials(chain),
    cloudFrontKey: cloudFrontKeyLoader(secretsManager),
    fetch: (url, init) => fetch(url, init),
    clock,
    records: recorderFor({ ddb: dynamo(), tableName: config.TABLE_NAME }),
  };
}

export const handler = createHandler(once(defaultDeps));
