/**
 * Helpers for the local-stack integration tests: SDK clients configured ONLY from the env file the
 * stack wrote (parsed as KEY=value lines), never from the stack object.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STSClient } from '@aws-sdk/client-sts';
import { parseEnvFile } from '../../local/env-file';
import type { LocalEvent } from '../../local/eventbridge';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack';

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface EnvClients {
  env: Record<string, string>;
  platform: Creds;
  customer: Creds;
  iam(c?: Creds): IAMClient;
  sts(c?: Creds): STSClient;
  s3(region?: string, c?: Creds): S3Client;
  secrets(c?: Creds): SecretsManagerClient;
  events(c?: Creds): EventBridgeClient;
  lambda(c?: Creds): LambdaClient;
  sfn(c?: Creds): SFNClient;
  dynamo(c?: Creds): DynamoDBClient;
}

export function clientsFromEnvFile(file: string): EnvClients {
  const env = parseEnvFile(readFileSync(file, 'utf8'));
  const platform = { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! };
  const customer = { accessKeyId: env.CUSTOMER_AWS_ACCESS_KEY_ID!, secretAccessKey: env.CUSTOMER_AWS_SECRET_ACCESS_KEY! };
  const region = env.AWS_REGION!;
  const base = (endpointVar: string, c: Creds | undefined, r = region) => ({
    region: r,
    endpoint: env[endpointVar],
    credentials: c ?? platform,
    maxAttempts: 1,
  });
  return {
    env,
    platform,
    customer,
    iam: (c) => new IAMClient(base('AWS_ENDPOINT_URL_IAM', c)),
    sts: (c) => new STSClient(base('AWS_ENDPOINT_URL_STS', c)),
    s3: (r, c) =>
      new S3Client({
        ...base('AWS_ENDPOINT_URL_S3', c, r ?? region),
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
    secrets: (c) => new SecretsManagerClient(base('AWS_ENDPOINT_URL_SECRETS_MANAGER', c)),
    events: (c) => new EventBridgeClient(base('AWS_ENDPOINT_URL_EVENTBRIDGE', c)),
    lambda: (c) => new LambdaClient(base('AWS_ENDPOINT_URL_LAMBDA', c)),
    sfn: (c) => new SFNClient(base('AWS_ENDPOINT_URL_SFN', c)),
    dynamo: (c) => new DynamoDBClient(base('AWS_ENDPOINT_URL_DYNAMODB', c)),
  };
}

/** Starts a stack on random ports with its env file in a fresh temp dir. */
export async function startTestStack(opts: LocalStackOptions = {}): Promise<{ stack: LocalStack; clients: EnvClients; envFile: string }> {
  const envFile = path.join(mkdtempSync(path.join(tmpdir(), 'local-stack-test-')), 'aws.env');
  const stack = await startLocalStack({ ports: 'random', envFile, quiet: true, waitForTrustMs: 20, retryIntervalMs: 10, rolePropagationDelaySeconds: 0, ...opts });
  return { stack, clients: clientsFromEnvFile(envFile), envFile };
}

/** What an SDK v3 error carries: name, HTTP status, message. */
export async function failure(p: Promise<unknown>): Promise<{ name: string; status?: number; message: string; headers: Record<string, string> }> {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number }; $response?: { headers?: Record<string, string> } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message, headers: e.$response?.headers ?? {} };
  }
  throw new Error('expected the call to fail, it succeeded');
}

/** Resolves with the first event the stack's EventBridge logged matching `match` (already logged or still to come). */
export function nextEvent(stack: LocalStack, match: (e: LocalEvent) => boolean): Promise<LocalEvent> {
  const seen = stack.events.find(match);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => {
    const off = stack.eventBridge.subscribe((e) => {
      if (match(e)) {
        off();
        resolve(e);
      }
    });
  });
}
