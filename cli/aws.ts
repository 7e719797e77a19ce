/**
 * SDK clients built from the injected environment map (never from `process.env`), so the same commands
 * reach a deployed stage (standard AWS variables plus the stack outputs) or the local stack (loaded from
 * `.local/aws.env`), and tests can run several stacks in one process.
 *
 * Endpoints follow the SDK's own rule: `AWS_ENDPOINT_URL_<SERVICE>` first, then `AWS_ENDPOINT_URL`,
 * unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`. Credentials come from AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN when both key and secret are in the map; otherwise the SDK's
 * default chain (profiles, SSO, instance roles) is used, which is what a deployed stage usually wants.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STSClient } from '@aws-sdk/client-sts';
import { UsageError } from './io';

export type Env = Record<string, string | undefined>;

/** The service ids the SDK uses in `AWS_ENDPOINT_URL_<SERVICE>`. */
export type ServiceId = 'DYNAMODB' | 'S3' | 'IAM' | 'STS' | 'SECRETS_MANAGER' | 'LAMBDA' | 'SFN' | 'EVENTBRIDGE';

/** Variables each command needs besides region and credentials. */
export const VARS = {
  stateMachine: 'BINARY_BACKENDS_STATE_MACHINE_ARN',
  table: 'BINARY_BACKENDS_TABLE',
  signer: 'BINARY_BACKENDS_SIGNER_FUNCTION',
  starter: 'BINARY_BACKENDS_STARTER_FUNCTION',
  deactivate: 'BINARY_BACKENDS_DEACTIVATE_FUNCTION',
  /** The IAM-authorized front door (stack output ApiUrl): onboard and deactivate go through it. */
  api: 'BINARY_BACKENDS_API_URL',
  secretPrefix: 'BINARY_BACKENDS_SECRET_PREFIX',
} as const;

/** The configured endpoint for a service, as the SDK would pick it, or undefined for the AWS default. */
export function endpointFor(env: Env, service: ServiceId): string | undefined {
  if ((env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '').toLowerCase() === 'true') return undefined;
  return nonEmpty(env[`AWS_ENDPOINT_URL_${service}`]) ?? nonEmpty(env.AWS_ENDPOINT_URL);
}

export function regionOf(env: Env): string | undefined {
  return nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/**
 * Checks that region and the named variables are set, and throws one UsageError naming every missing one
 * (with how to set them), so support sees the whole list at once.
 */
export function requireEnv<K extends string>(env: Env, names: readonly K[]): Record<K, string> {
  const missing: string[] = [];
  if (!regionOf(env)) missing.push('AWS_REGION');
  const out = {} as Record<K, string>;
  for (const name of names) {
    const v = nonEmpty(env[name]);
    if (v === undefined) missing.push(name);
    else out[name] = v;
  }
  if (missing.length > 0) {
    throw new UsageError(
      `Missing environment variable${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}.\n` +
        'For the local stack: set -a; . .local/aws.env; set +a   (start it with: npm start)\n' +
        'For a deployed stage: export the stack outputs (see docs/cli.md, "Pointing the CLI at a deployed stage").',
    );
  }
  return out;
}

/**
 * Connection and request timeouts for the CLI's clients, so a dead endpoint fails in seconds instead of
 * hanging support's terminal. Lambda Invoke waits for the function itself, so its request timeout must
 * outlast the slowest function the CLI invokes (15 s in serverless.yml; test/unit/clients.test.ts checks).
 * `throwOnRequestTimeout`: without it @smithy/node-http-handler 4.x only logs a warning.
 */
export const CLI_HTTP_TIMEOUTS = { connectionTimeout: 3_000, requestTimeout: 15_000, throwOnRequestTimeout: true } as const;
export const CLI_INVOKE_TIMEOUTS = { connectionTimeout: 3_000, requestTimeout: 60_000, throwOnRequestTimeout: true } as const;

function baseConfig(env: Env, service: ServiceId) {
  const region = regionOf(env);
  const endpoint = endpointFor(env, service);
  const key = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secret = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  const credentials =
    key && secret ? { accessKeyId: key, secretAccessKey: secret, sessionToken: nonEmpty(env.AWS_SESSION_TOKEN) } : undefined;
  return {
    region,
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: 3,
    requestHandler: service === 'LAMBDA' ? CLI_INVOKE_TIMEOUTS : CLI_HTTP_TIMEOUTS,
  };
}

/** One set of clients per CLI run, created on first use. */
export class AwsClients {
  private cache = new Map<string, unknown>();
  constructor(readonly env: Env) {}

  private get<T>(name: string, make: () => T): T {
    if (!this.cache.has(name)) this.cache.set(name, make());
    return this.cache.get(name) as T;
  }

  get dynamo(): DynamoDBDocumentClient {
    return this.get('dynamo', () =>
      DynamoDBDocumentClient.from(new DynamoDBClient(baseConfig(this.env, 'DYNAMODB')), {
        marshallOptions: { removeUndefinedValues: true },
      }),
    );
  }
  get sts(): STSClient {
    return this.get('sts', () => new STSClient(baseConfig(this.env, 'STS')));
  }
  get iam(): IAMClient {
    return this.get('iam', () => new IAMClient(baseConfig(this.env, 'IAM')));
  }
  get lambda(): LambdaClient {
    return this.get('lambda', () => new LambdaClient(baseConfig(this.env, 'LAMBDA')));
  }
  get sfn(): SFNClient {
    return this.get('sfn', () => new SFNClient(baseConfig(this.env, 'SFN')));
  }
  get secrets(): SecretsManagerClient {
    return this.get('secrets', () => new SecretsManagerClient(baseConfig(this.env, 'SECRETS_MANAGER')));
  }
  /** S3 with presign-safe checksum settings (see functions/shared/clients.ts). */
  s3(region?: string): S3Client {
    return this.get(`s3:${region ?? ''}`, () => {
      const cfg = baseConfig(this.env, 'S3');
      return new S3Client({
        ...cfg,
        region: region ?? cfg.region,
        forcePathStyle: cfg.endpoint !== undefined,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    });
  }

  destroy(): void {
    for (const c of this.cache.values()) (c as { destroy?: () => void }).destroy?.();
    this.cache.clear();
  }
}
