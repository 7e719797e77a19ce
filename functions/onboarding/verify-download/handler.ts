/**
 * VerifyDownload Lambda: middy glue around `verifyDownload`. `createHandler(deps)` lets tests and the
 * local stack inject clients, an HTTP fetch and a clock; `handler` builds the real ones on first use.
 */
import { commonConfig, loadConfig } from '../../shared/config';
import { dynamo, secretsManager, sts, stsWith } from '../../shared/clients';
import { CredentialBroker } from '../../shared/credential-broker';
import { lambdaHandler } from '../../shared/handler';
import { parseStepInput } from '../../shared/backend-records';
import { recorderFor } from '../verify-upload/canary';
import { cloudFrontKeyLoader, verifyDownload, type VerifyDownloadDeps, type VerifyDownloadResult } from './verify-download';

export function createHandler(deps: VerifyDownloadDeps | (() => VerifyDownloadDeps)) {
  const resolve = typeof deps === 'function' ? deps : () => deps;
  return lambdaHandler<unknown, VerifyDownloadResult>(async (event) => verifyDownload(parseStepInput(event), resolve()));
}

let defaults: VerifyDownloadDeps | undefined;
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

export const handler = createHandler(() => (defaults ??= defaultDeps()));
