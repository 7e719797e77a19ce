/**
 * Secrets Manager GetSecretValue as one SigV4-signed fetch (JSON 1.1 protocol, `secretsmanager.GetSecretValue`):
 * the signer's "get secret" function for cloudfront-keys.ts, without the SDK client (issue 12.9).
 * Endpoint: Secrets Manager's own rule set with `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL`.
 * Errors keep the SDK's names (`ResourceNotFoundException`, `AccessDeniedException`, `DecryptionFailure`, ...);
 * cloudfront-keys.ts reads them as before.
 */
import { bdd } from '@aws-sdk/client-secrets-manager/dist-es/endpoint/bdd.js';
import { awsFetch, envCredentials, jsonError, ruleSetEndpoint, type Env, type ServiceEndpoint } from './aws-fetch';
import type { GetSecretValue } from './cloudfront-keys';
import { regionOf, type FetchClientOptions } from './dynamodb-fetch';

/** Secrets Manager's endpoint as SecretsManagerClient resolves it for `region` in `env`. */
export function secretsManagerEndpoint(region: string, env: Env = process.env): ServiceEndpoint {
  return ruleSetEndpoint(bdd, 'SECRETS_MANAGER', region, env);
}

/** GetSecretValue with the function's own credentials. SecretBinary comes back as bytes, as from the SDK. */
export function fetchGetSecret(options: FetchClientOptions = {}): GetSecretValue {
  const env = options.env ?? process.env;
  const credentials = options.credentials ?? (() => envCredentials(env));
  let endpoint: ServiceEndpoint | undefined;
  return async (input) => {
    endpoint ??= secretsManagerEndpoint(regionOf(options), env);
    const res = await awsFetch(
      {
        signingName: 'secretsmanager',
        region: endpoint.signingRegion,
        credentials: credentials(),
        endpoint: endpoint.url,
        method: 'POST',
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue' },
        body: JSON.stringify(input.VersionId ? { SecretId: input.SecretId, VersionId: input.VersionId } : { SecretId: input.SecretId }),
        parseError: jsonError,
        operation: 'Secrets Manager GetSecretValue',
      },
      options,
    );
    const out = JSON.parse(res.text) as { SecretString?: string; SecretBinary?: string };
    return {
      SecretString: out.SecretString,
      SecretBinary: out.SecretBinary === undefined ? undefined : new Uint8Array(Buffer.from(out.SecretBinary, 'base64')),
    };
  };
}
