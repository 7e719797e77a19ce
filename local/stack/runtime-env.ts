/**
 * The runtime environment of the local stack: the `.local/aws.env` contract file (what a CLI or script in
 * another shell loads: the support persona's credentials, AWS_ENDPOINT_URL_* values, names; DESIGN's
 * variables, exactly), and the function runtime environment the in-process handlers read from process.env.
 * One reason to change: a variable's name or value.
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { CUSTOMER_ACCOUNT_ID, PLATFORM_ACCOUNT_ID, REGION, type Credential } from '../identity';
import { DEFAULT_ENV_FILE, writeEnvFile } from '../env-file';
import {
  APPROVER_KEY,
  BOUNDARY_POLICY_ARN,
  CUSTOMER_KEY,
  DEFAULT_BUCKET,
  EVENT_BUS_NAME,
  PLATFORM_KEY,
  SECRET_PREFIX,
  STAGE,
  TABLE_NAME,
  type Service,
} from './names';
import type { Cleanup } from './services';

/** The `AWS_ENDPOINT_URL_<SERVICE>` suffix: the SDK's serviceId upper-cased, spaces → `_` ("Secrets Manager"). */
const ENDPOINT_VARS: Partial<Record<Service, string>> = {
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  s3: 'AWS_ENDPOINT_URL_S3',
  iam: 'AWS_ENDPOINT_URL_IAM',
  sts: 'AWS_ENDPOINT_URL_STS',
  secretsmanager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  eventbridge: 'AWS_ENDPOINT_URL_EVENTBRIDGE',
  lambda: 'AWS_ENDPOINT_URL_LAMBDA',
  sfn: 'AWS_ENDPOINT_URL_SFN',
};

export function endpointEnv(endpoints: Record<Service, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(ENDPOINT_VARS).map(([s, v]) => [v, endpoints[s as Service]])) as Record<string, string>;
}

/** What the env file holds (the contract). */
export function contractEnv(o: {
  endpoints: Record<Service, string>;
  edge: string;
  stateMachineArn: string;
  functionName: (key: 'signUrl' | 'starter' | 'deactivate') => string;
  waitForTrustMs: number;
}): Record<string, string> {
  return {
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: PLATFORM_KEY.id,
    AWS_SECRET_ACCESS_KEY: PLATFORM_KEY.secret,
    ...endpointEnv(o.endpoints),
    PLATFORM_ACCOUNT_ID,
    CUSTOMER_ACCOUNT_ID,
    CUSTOMER_AWS_ACCESS_KEY_ID: CUSTOMER_KEY.id,
    CUSTOMER_AWS_SECRET_ACCESS_KEY: CUSTOMER_KEY.secret,
    // To play the second person who approves (binary-backends approve|reject): local-approver.
    APPROVER_AWS_ACCESS_KEY_ID: APPROVER_KEY.id,
    APPROVER_AWS_SECRET_ACCESS_KEY: APPROVER_KEY.secret,
    BINARY_BACKENDS_STAGE: STAGE,
    BINARY_BACKENDS_STATE_MACHINE_ARN: o.stateMachineArn,
    BINARY_BACKENDS_TABLE: TABLE_NAME,
    BINARY_BACKENDS_SIGNER_FUNCTION: o.functionName('signUrl'),
    BINARY_BACKENDS_STARTER_FUNCTION: o.functionName('starter'),
    BINARY_BACKENDS_DEACTIVATE_FUNCTION: o.functionName('deactivate'),
    // The IAM-authorized front door the CLI's onboard and deactivate call (SigV4, service execute-api).
    BINARY_BACKENDS_API_URL: o.endpoints.apigateway,
    BINARY_BACKENDS_DEFAULT_BUCKET: DEFAULT_BUCKET,
    BINARY_BACKENDS_CLOUDFRONT_EDGE: o.edge,
    BINARY_BACKENDS_SECRET_PREFIX: SECRET_PREFIX,
    // The local CloudFront edge is a loopback host:port; only this stack accepts one (input rules).
    BINARY_BACKENDS_ALLOW_LOOPBACK_HOSTS: 'true',
    BINARY_BACKENDS_EVENT_BUS: EVENT_BUS_NAME,
    // How long WaitForTrust really pauses here (CheckTrust records nextCheckAt on the production schedule),
    // so a CLI in another shell counts down to the real next check.
    BINARY_BACKENDS_LOCAL_WAIT_FOR_TRUST_MS: String(o.waitForTrustMs),
    // Quiets SDK v3's "Node 20 support ends" notice in every CLI or script that loads this file.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** What the in-process handlers see in process.env (the functions' environment in serverless.yml, locally). */
export function functionRuntimeEnv(o: {
  session: Credential;
  endpoints: Record<Service, string>;
  stateMachineArn: string;
  signerRoleArn: string;
  rolePropagationDelaySeconds: number;
  approvalPolicy: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  return {
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: o.session.accessKeyId,
    AWS_SECRET_ACCESS_KEY: o.session.secretAccessKey,
    AWS_SESSION_TOKEN: o.session.sessionToken!,
    ...endpointEnv(o.endpoints),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    SERVICE_STAGE: STAGE,
    TABLE_NAME,
    EVENT_BUS_NAME,
    STATE_MACHINE_ARN: o.stateMachineArn,
    PLATFORM_ACCOUNT_ID,
    PLATFORM_ROLE_TRUSTED_PRINCIPAL_PATTERN: `arn:aws:iam::${PLATFORM_ACCOUNT_ID}:role/binary-backends-${STAGE}-*`,
    PLATFORM_ROLE_PERMISSIONS_BOUNDARY_ARN: BOUNDARY_POLICY_ARN,
    ROLE_PROPAGATION_DELAY_SECONDS: String(o.rolePropagationDelaySeconds),
    APPROVAL_POLICY: o.approvalPolicy,
    DEFAULT_BUCKET,
    DEFAULT_BUCKET_REGION: REGION,
    DEFAULT_SIGNER_ROLE_ARN: o.signerRoleArn,
    KEY_SECRET_PREFIX: SECRET_PREFIX,
    ALLOW_LOOPBACK_CLOUDFRONT_HOSTS: 'true',
    // The handlers run in this process, so their stdout is the terminal of whoever runs the stack (or the
    // demo), not CloudWatch: no embedded-metric lines there. Pass functionEnv to turn them back on.
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...o.extra,
  };
}

/** Sets `env` in process.env; the cleanup puts back what was there before. */
export function applyProcessEnv(env: Record<string, string>): Cleanup {
  const previousEnv = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(env)) {
    previousEnv.set(k, process.env[k]);
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of previousEnv) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** Writes the contract file (default `.local/aws.env`); the cleanup removes it if it is still ours. */
export function writeContractFile(envFile: string | undefined, env: Record<string, string>): { file: string; cleanup: Cleanup } {
  const file = envFile ?? DEFAULT_ENV_FILE;
  writeEnvFile(file, env, [
    'Written by the binary-backends local stack (local/stack.ts) at start-up; removed when it stops.',
    'Load with `set -a; . .local/aws.env; set +a` or dotenv. Local-only credentials: they open nothing else.',
  ]);
  const written = readFileSync(file, 'utf8');
  return {
    file,
    cleanup: () => {
      // Remove it only if it is still ours (another stack may have rewritten it since).
      if (existsSync(file) && readFileSync(file, 'utf8') === written) unlinkSync(file);
    },
  };
}
