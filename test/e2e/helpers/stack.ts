/**
 * End-to-end fixtures: one local stack per test file (random ports, short waits, env file in a temp dir),
 * SDK clients configured only from that env file, and the customer's side of an onboarding.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, type BucketLocationConstraint } from '@aws-sdk/client-s3';
import { CreateRoleCommand, PutRolePolicyCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import { AwsClients } from '../../../cli/aws';
import '../../../local/polyfills';
import { parseEnvFile } from '../../../local/env-file';
import { startLocalStack } from '../../../local/stack';

export type EnvMap = Record<string, string | undefined>;

// The env file is read the way any script would: with the stack's own parser (dotenv and `set -a; .` agree).
export { parseEnvFile };

export interface E2eStack {
  /** What the env file says: the only configuration the tests' clients and CLI runs get. */
  env: Record<string, string>;
  /** The same, with the customer's credentials in the standard variables. */
  customerEnv: Record<string, string>;
  platform: AwsClients;
  customer: AwsClients;
  stack: Awaited<ReturnType<typeof startLocalStack>>;
  stop(): Promise<void>;
}

/**
 * The in-process functions print CloudWatch embedded-metric lines straight to stdout (CloudWatch would
 * collect them); keep them out of the test report.
 */
function muteMetricLines(): () => void {
  const write = process.stdout.write;
  process.stdout.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
    if (typeof chunk === 'string' && chunk.startsWith('{"_aws"')) return true;
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof process.stdout.write;
  return () => {
    process.stdout.write = write;
  };
}

/** `extra`: local stack options for this file (e.g. `approvalPolicy`). */
export async function startE2eStack(extra: Parameters<typeof startLocalStack>[0] = {}): Promise<E2eStack> {
  const unmute = muteMetricLines();
  const dir = await mkdtemp(path.join(tmpdir(), 'binary-backends-e2e-'));
  const envFile = path.join(dir, 'aws.env');
  const stack = await startLocalStack({ ports: 'random', envFile, waitForTrustMs: 300, retryIntervalMs: 20, quiet: true, rolePropagationDelaySeconds: 0, functionEnv: { POWERTOOLS_LOG_LEVEL: 'SILENT', CONFIG_CACHE_TTL_SECONDS: '1' }, ...extra });
  const env = parseEnvFile(await readFile(envFile, 'utf8'));
  const customerEnv = {
    ...env,
    AWS_ACCESS_KEY_ID: env.CUSTOMER_AWS_ACCESS_KEY_ID!,
    AWS_SECRET_ACCESS_KEY: env.CUSTOMER_AWS_SECRET_ACCESS_KEY!,
  };
  const platform = new AwsClients(env);
  const customer = new AwsClients(customerEnv);
  return {
    env,
    customerEnv,
    platform,
    customer,
    stack,
    stop: async () => {
      platform.destroy();
      customer.destroy();
      await stack.stop();
      unmute();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface CustomerBackend {
  bucket: string;
  region: string;
  roleName: string;
  roleArn: string;
}

/** The customer's bucket and role, with the guide's bucket policy and no trust for Peridio yet. */
export async function createCustomerBackend(
  e: E2eStack,
  opts: { bucket: string; region?: string; roleName: string },
): Promise<CustomerBackend> {
  const region = opts.region ?? 'eu-west-1';
  const account = e.env.CUSTOMER_ACCOUNT_ID!;
  await e.customer.s3(region).send(
    new CreateBucketCommand({
      Bucket: opts.bucket,
      ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
    }),
  );
  await e.customer.iam.send(
    new CreateRoleCommand({
      RoleName: opts.roleName,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole' }],
      }),
    }),
  );
  await e.customer.iam.send(
    new PutRolePolicyCommand({
      RoleName: opts.roleName,
      PolicyName: 'PeridioBinaries',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:ListBucket'],
            Resource: [`arn:aws:s3:::${opts.bucket}`, `arn:aws:s3:::${opts.bucket}/*`],
          },
        ],
      }),
    }),
  );
  return { bucket: opts.bucket, region, roleName: opts.roleName, roleArn: `arn:aws:iam::${account}:role/${opts.roleName}` };
}

/** UpdateAssumeRolePolicy as the customer, retrying "Invalid principal in policy" (IAM propagation). */
export async function applyTrustPolicy(e: E2eStack, roleName: string, policy: string): Promise<void> {
  await pollUntil(
    async () => {
      try {
        await e.customer.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: roleName, PolicyDocument: policy }));
        return true;
      } catch (err) {
        if (/^MalformedPolicyDocument/.test((err as Error).name) && /Invalid principal/i.test((err as Error).message)) return false;
        throw err;
      }
    },
    { what: `trust policy applied to ${roleName}` },
  );
}

/** Polls `check` until it returns a truthy value, or fails after `timeoutMs`. No fixed sleeps. */
export async function pollUntil<T>(
  check: () => Promise<T | undefined | false>,
  opts: { what: string; timeoutMs?: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/** A fresh lowercase UUID per test, so tests in one stack never share an org. */
export function newOrgId(): string {
  return crypto.randomUUID();
}
