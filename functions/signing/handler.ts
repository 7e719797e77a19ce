/**
 * `sign-url` Lambda: middy glue around the URL signer (sign-url.ts). Internal services invoke it with
 * `{orgId, operation, ...}` (DESIGN "Signing"); errors are thrown by name, so an Invoke caller sees
 * `{errorType: "ValidationError" | "CustomerTrustBrokenError" | ..., errorMessage}`.
 *
 * Never log the response: presigned S3 URLs carry the session token of the credentials that signed them.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CredentialBroker, type AwsCredentials } from '../shared/credential-broker';
import { lambdaHandler } from '../shared/handler';
import { logger } from '../shared/logger';
import { createUrlSigner, type SignResponse, type SignerDeps, type UrlSigner } from './sign-url';

/**
 * Same name as config.ts's ConfigurationError. The signer does not import config.ts or clients.ts:
 * config.ts loads classic zod (~450 KB minified) and clients.ts constructs every service's client (IAM,
 * SFN, EventBridge: ~220 KB), which together would put the signer bundle over its 1 MB budget. The
 * clients below are built exactly as clients.ts builds them.
 */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

export interface SignerConfig {
  AWS_REGION: string;
  TABLE_NAME: string;
  DEFAULT_BUCKET: string;
  DEFAULT_BUCKET_REGION: string;
  DEFAULT_SIGNER_ROLE_ARN: string;
  /** How long an org's route (one GetItem) is reused. Default 30, 0-3600. */
  CONFIG_CACHE_TTL_SECONDS: number;
  /**
   * Credentials with fewer seconds left are refreshed. Default 900, 60-3000: it must stay well under the
   * 1 h chained-session cap, or every call would refresh; it is also the shortest life a fresh S3 URL can
   * get from clamping.
   */
  CREDENTIAL_REFRESH_THRESHOLD_SECONDS: number;
}

/** Parses the signer's environment; throws ConfigurationError naming every missing or bad variable. */
export function loadSignerConfig(processEnv: Record<string, string | undefined> = process.env): SignerConfig {
  const problems: string[] = [];
  const required = (name: string): string => {
    const v = processEnv[name];
    if (v === undefined) problems.push(`${name} is not set`);
    else if (v === '') problems.push(`${name}: must not be empty`);
    return v ?? '';
  };
  const seconds = (name: string, fallback: number, min: number, max: number): number => {
    const raw = processEnv[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`${name}: must be a whole number of seconds from ${min} to ${max} (got ${JSON.stringify(raw)})`);
    return n;
  };
  const config: SignerConfig = {
    AWS_REGION: required('AWS_REGION'),
    TABLE_NAME: required('TABLE_NAME'),
    DEFAULT_BUCKET: required('DEFAULT_BUCKET'),
    DEFAULT_BUCKET_REGION: required('DEFAULT_BUCKET_REGION'),
    DEFAULT_SIGNER_ROLE_ARN: required('DEFAULT_SIGNER_ROLE_ARN'),
    CONFIG_CACHE_TTL_SECONDS: seconds('CONFIG_CACHE_TTL_SECONDS', 30, 0, 3600),
    CREDENTIAL_REFRESH_THRESHOLD_SECONDS: seconds('CREDENTIAL_REFRESH_THRESHOLD_SECONDS', 900, 60, 3000),
  };
  if (problems.length > 0) throw new ConfigurationError(`Bad function configuration: ${problems.join('; ')}`);
  return config;
}

/** An S3 client for multipart calls; WHEN_REQUIRED keeps x-amz-checksum-* out (as clients.ts s3With). */
export function s3ClientWith(region: string, credentials: AwsCredentials): S3Client {
  return new S3Client({
    region,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The production dependencies, from `process.env`. Endpoints come from AWS_ENDPOINT_URL_* as everywhere. */
export function signerDepsFromEnv(processEnv: Record<string, string | undefined> = process.env): SignerDeps {
  const config = loadSignerConfig(processEnv);
  const clock = () => new Date();
  const sts = new STSClient({});
  return {
    ddb: DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
    tableName: config.TABLE_NAME,
    secrets: new SecretsManagerClient({}),
    broker: new CredentialBroker({
      sts: () => sts,
      stsWith: (credentials) => new STSClient({ credentials }),
      clock,
      refreshThresholdSeconds: config.CREDENTIAL_REFRESH_THRESHOLD_SECONDS,
    }),
    s3With: s3ClientWith,
    clock,
    settings: {
      defaultBucket: config.DEFAULT_BUCKET,
      defaultBucketRegion: config.DEFAULT_BUCKET_REGION,
      defaultSignerRoleArn: config.DEFAULT_SIGNER_ROLE_ARN,
      configCacheTtlSeconds: config.CONFIG_CACHE_TTL_SECONDS,
    },
  };
}

function summary(event: unknown, out: SignResponse): Record<string, unknown> {
  const e = (event ?? {}) as { orgId?: unknown; operation?: unknown };
  return {
    orgId: e.orgId,
    operation: e.operation,
    storage: out.storage,
    roleName: out.roleName,
    via: out.via,
    urlCount: out.urls.length,
    ttlSeconds: out.ttlSeconds,
    clamped: out.clamped ?? false,
  };
}

/** A handler over the given signer (or dependencies): tests and the local stack inject clients and a clock. */
export function createHandler(deps: SignerDeps | UrlSigner | (() => SignerDeps)) {
  let signer: UrlSigner | undefined =
    typeof deps === 'object' && 'sign' in deps ? deps : typeof deps === 'object' ? createUrlSigner(deps) : undefined;
  const lazyDeps = typeof deps === 'function' ? deps : undefined;
  return lambdaHandler<unknown, SignResponse>(async (event) => {
    signer ??= createUrlSigner(lazyDeps!());
    const out = await signer.sign(event);
    logger.info('Signed', summary(event, out));
    return out;
  });
}

/** The deployed handler: configuration is read on the first invocation, then every cache lives with the container. */
export const handler = createHandler(() => signerDepsFromEnv());
