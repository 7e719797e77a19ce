/**
 * The signer's dependencies over SDK clients (which tests and benches mock with aws-sdk-client-mock, or point
 * at the local stand-ins), instead of the handler's signed fetches: one definition for every test and bench
 * that builds a signer.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { sdkGetSecret } from '#shared/cloudfront-keys';
import { CredentialBroker, type AwsCredentials } from '#shared/credential-broker';
import { documentClientReader } from '#shared/records/location-read-sdk';
import type { ItemReader } from '#shared/records/model';
import type { SignerDeps, SignerSettings } from '../../../functions/signing/sign-url';
import { sdkMultipart } from './sdk-multipart';

const REGION = 'us-east-1';

/** A credential broker over STSClients (mocked or pointed at a stand-in). */
export function sdkCredentialBroker(clock: () => Date, refreshThresholdSeconds = 900): CredentialBroker {
  return new CredentialBroker({
    sts: () => new STSClient({ region: REGION }),
    stsWith: (c: AwsCredentials) => new STSClient({ region: REGION, credentials: c }),
    clock,
    refreshThresholdSeconds,
  });
}

export interface SdkSignerDepsOptions {
  /** Default: a DocumentClient reader. */
  items?: ItemReader;
  tableName: string;
  clock: () => Date;
  settings: SignerSettings;
  refreshThresholdSeconds?: number;
  /** The multipart calls through an SDK S3Client (mockable) instead of the default signed fetch. */
  sdkMultipartCalls?: boolean;
}

export function sdkSignerDeps(o: SdkSignerDepsOptions): SignerDeps {
  return {
    items: o.items ?? documentClientReader(DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION }))),
    tableName: o.tableName,
    getSecret: sdkGetSecret(new SecretsManagerClient({ region: REGION })),
    broker: sdkCredentialBroker(o.clock, o.refreshThresholdSeconds),
    ...(o.sdkMultipartCalls ? { s3Multipart: (region: string, credentials: AwsCredentials) => sdkMultipart(new S3Client({ region, credentials })) } : {}),
    clock: o.clock,
    settings: o.settings,
  };
}
