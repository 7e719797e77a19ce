/**
 * DynamoDB GetItem as one SigV4-signed fetch (JSON 1.0 protocol, `DynamoDB_20120810.GetItem`): the signer's
 * `ItemReader` (records/model.ts) without the SDK's DynamoDB client, DocumentClient and @smithy/core
 * (issue 12.9). The item comes back as the DocumentClient would give it (@aws-sdk/util-dynamodb `unmarshall`,
 * the function lib-dynamodb itself uses: numbers as `number`, sets as `Set`, binary as `Uint8Array`).
 *
 * Endpoint: DynamoDB's own rule set (aws-fetch.ts `ruleSetEndpoint`) with `AWS_ENDPOINT_URL_DYNAMODB` /
 * `AWS_ENDPOINT_URL`, FIPS and dual-stack from the environment, and the account-ID endpoint parameters the
 * SDK fills from `AWS_ACCOUNT_ID_ENDPOINT_MODE` (default `preferred`) and the environment credentials'
 * `AWS_ACCOUNT_ID` (Lambda sets none, so real Lambdas get the regional endpoint, like the SDK there).
 * Errors: `name` is DynamoDB's error code as with the SDK; throttling and 5xx are retried (aws-fetch.ts), then
 * become TransientError, as `documentClientReader` does.
 */
import { bdd } from '@aws-sdk/client-dynamodb/dist-es/endpoint/bdd.js';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { awsFetch, envCredentials, jsonError, ruleSetEndpoint, type AwsFetchCredentials, type AwsFetchOptions, type Env, type ServiceEndpoint } from './aws-fetch';
import { asTransientOr } from './errors';
import type { ItemReader } from './records/location-read';

export interface FetchClientOptions extends AwsFetchOptions {
  /** Default: AWS_REGION. */
  region?: string;
  /** Default: process.env (endpoint variables and the function's own credentials). */
  env?: Env;
  /** Default: the function's own credentials from `env` (aws-fetch.ts envCredentials). */
  credentials?: () => AwsFetchCredentials;
}

/** The region a client is for: the option, else AWS_REGION (which Lambda sets), else an error naming both. */
export function regionOf(options: FetchClientOptions): string {
  const region = options.region ?? (options.env ?? process.env).AWS_REGION;
  if (!region) throw new Error('No region: set AWS_REGION');
  return region;
}

/** DynamoDB's endpoint as DynamoDBClient resolves it for `region` in `env`. */
export function dynamoEndpoint(region: string, env: Env = process.env): ServiceEndpoint {
  return ruleSetEndpoint(bdd, 'DYNAMODB', region, env, {
    AccountIdEndpointMode: env.AWS_ACCOUNT_ID_ENDPOINT_MODE || 'preferred',
    AccountId: env.AWS_ACCESS_KEY_ID ? env.AWS_ACCOUNT_ID || undefined : undefined,
  });
}

/** An ItemReader over one signed GetItem per call. */
export function fetchItemReader(options: FetchClientOptions = {}): ItemReader {
  const env = options.env ?? process.env;
  const credentials = options.credentials ?? (() => envCredentials(env));
  let endpoint: ServiceEndpoint | undefined;
  return {
    async getItem(tableName, key, consistent) {
      try {
        const region = regionOf(options);
        endpoint ??= dynamoEndpoint(region, env);
        const res = await awsFetch(
          {
            signingName: 'dynamodb',
            region: endpoint.signingRegion,
            credentials: credentials(),
            endpoint: endpoint.url,
            method: 'POST',
            headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' },
            body: JSON.stringify({ TableName: tableName, Key: { pk: { S: key.pk }, sk: { S: key.sk } }, ConsistentRead: consistent }),
            parseError: jsonError,
            operation: 'DynamoDB GetItem',
          },
          options,
        );
        const out = JSON.parse(res.text) as { Item?: Parameters<typeof unmarshall>[0] };
        return out.Item ? unmarshall(out.Item) : undefined;
      } catch (err) {
        throw asTransientOr(err, 'DynamoDB GetItem');
      }
    },
  };
}
