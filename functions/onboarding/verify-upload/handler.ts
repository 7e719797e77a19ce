/**
 * VerifyUpload Lambda: middy glue around `verifyUpload`. `createHandler(deps)` lets tests and the local
 * stack inject clients and a clock; `handler` builds the real ones on first use.
 */
import { commonConfig, loadConfig } from '#shared/config';
import { dynamo, sts, stsWith } from '#shared/clients';
import { s3ObjectsClient } from '#shared/s3-objects';
import { CredentialBroker } from '#shared/credential-broker';
import { recordStore } from '#shared/deps';
import { handlerFor, once } from '#shared/handler';
import { stsIdentityProbe, tableProbes } from '#shared/smoke-probes';
import { parseStepInput } from '#shared/records/workflow-context';
import { recorderFor, type VerifyUploadResult } from '#shared/canary';
import { verifyUpload, type VerifyUploadDeps } from './verify-upload';

export const createHandler = handlerFor<VerifyUploadDeps, VerifyUploadResult>(
  (event, deps) => verifyUpload(parseStepInput(event), deps),
  () => [...tableProbes(recordStore(), ['GetItem', 'UpdateItem']), stsIdentityProbe(sts())],
);

function defaultDeps(): VerifyUploadDeps {
  const config = loadConfig(commonConfig);
  const clock = () => new Date();
  const broker = new CredentialBroker({ sts, stsWith, clock });
  return {
    customerCredentials: (chain) => broker.customerCredentials(chain),
    s3: (region, credentials) => s3ObjectsClient(region, credentials),
    clock,
    records: recorderFor({ ddb: dynamo(), tableName: config.TABLE_NAME }),
  };
}

export const handler = createHandler(once(defaultDeps));
