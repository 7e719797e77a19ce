/**
 * AWS SDK clients, built once per container and only when first used. Endpoints come from the
 * standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables, which SDK v3 honours itself:
 * that is how the local stack is reached, with no local branches here.
 *
 * Each getter is marked pure, so a bundle keeps only the clients its function uses. The signer builds
 * none: its few AWS calls are SigV4-signed fetches (aws-fetch.ts), which keeps its bundle within 200 KB.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentials } from './credential-broker';

/**
 * Connection and request timeouts for every client the functions build. The shortest function timeout in
 * serverless.yml is 15 s (starter, deactivate, signer); one attempt (connect + request) stays within a
 * third of it, so the SDK's own retry still fits and a hung socket surfaces as a retryable `TimeoutError`
 * instead of the whole Lambda timing out (test/unit/clients.test.ts checks this against serverless.yml).
 * `throwOnRequestTimeout` is needed: without it, @smithy/node-http-handler 4.x only logs a warning when
 * `requestTimeout` passes (it used to be a socket idle timeout).
 */
export const HTTP_TIMEOUTS = { connectionTimeout: 1_000, requestTimeout: 4_000, throwOnRequestTimeout: true } as const;

/** Settings every client in functions/ starts from. */
export const BASE_CLIENT_CONFIG = { requestHandler: HTTP_TIMEOUTS } as const;

function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

export const dynamo = /* @__PURE__ */ lazy(() =>
  DynamoDBDocumentClient.from(new DynamoDBClient({ ...BASE_CLIENT_CONFIG }), { marshallOptions: { removeUndefinedValues: true } }),
);
export const iam = /* @__PURE__ */ lazy(() => new IAMClient({ ...BASE_CLIENT_CONFIG }));
export const sts = /* @__PURE__ */ lazy(() => new STSClient({ ...BASE_CLIENT_CONFIG }));
export const secretsManager = /* @__PURE__ */ lazy(() => new SecretsManagerClient({ ...BASE_CLIENT_CONFIG }));
export const eventBridge = /* @__PURE__ */ lazy(() => new EventBridgeClient({ ...BASE_CLIENT_CONFIG }));
export const stepFunctions = /* @__PURE__ */ lazy(() => new SFNClient({ ...BASE_CLIENT_CONFIG }));

/** An STS client that signs with the given credentials (the next hop of a role chain). */
export function stsWith(credentials: AwsCredentials): STSClient {
  return new STSClient({ ...BASE_CLIENT_CONFIG, credentials });
}

/**
 * An S3 client for one bucket region and one set of (assumed-role) credentials.
 * `requestChecksumCalculation: 'WHEN_REQUIRED'` keeps `x-amz-checksum-*` out of presigned PUTs:
 * SDK clients from 3.729 on add the CRC of an empty body otherwise, and real S3 then rejects uploads.
 */
export function s3With(region: string, credentials: AwsCredentials): S3Client {
  return new S3Client({
    ...BASE_CLIENT_CONFIG,
    region,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
