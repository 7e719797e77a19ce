/**
 * s3rver with real SigV4 checks for the signer's integration tests: buckets, a platform and a customer account
 * whose key pairs s3rver accepts, an admin S3Client to seed and read objects independently of the signer, and
 * a mocked STS that mints a key pair per AssumeRole and registers it under the role's account. While it runs,
 * AWS_ENDPOINT_URL_S3 points at it (put back by `stop`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, type STSClientResolvedConfig, type ServiceInputTypes, type ServiceOutputTypes } from '@aws-sdk/client-sts';
import S3rver from '@20minutes/s3rver';
import type { AwsStub } from 'aws-sdk-client-mock';

const require = createRequire(import.meta.url);
export interface S3rverAccount {
  createKeyPair(id: string, secret: string): void;
  revokeAccessKey(id: string): void;
}
const AWSAccount = require('@20minutes/s3rver/lib/models/account') as new (id: string, name: string) => S3rverAccount;

export const PLATFORM_ACCOUNT_ID = '111111111111';

export interface SignedS3rver {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  platformAccount: S3rverAccount;
  customerAccount: S3rverAccount;
  /** Signs with the admin key pair (platform account): seeds and reads objects without the signer. */
  adminS3: S3Client;
  stop(): Promise<void>;
}

export async function startSignedS3rver(opts: { buckets: string[]; customerAccountId: string; dirPrefix: string }): Promise<SignedS3rver> {
  const dir = mkdtempSync(join(tmpdir(), opts.dirPrefix));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    vhostBuckets: false,
    configureBuckets: opts.buckets.map((name) => ({ name })),
  }) as { run(): Promise<{ port: number }>; close(): Promise<void> };
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const savedEndpoint = process.env.AWS_ENDPOINT_URL_S3;
  process.env.AWS_ENDPOINT_URL_S3 = endpoint;
  const platformAccount = new AWSAccount(PLATFORM_ACCOUNT_ID, 'platform');
  const customerAccount = new AWSAccount(opts.customerAccountId, 'customer');
  const admin = { accessKeyId: `AKIAADMIN${randomBytes(4).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(20).toString('hex') };
  platformAccount.createKeyPair(admin.accessKeyId, admin.secretAccessKey);
  const adminS3 = new S3Client({ region: 'us-east-1', credentials: admin, requestChecksumCalculation: 'WHEN_REQUIRED' });
  return {
    endpoint,
    platformAccount,
    customerAccount,
    adminS3,
    async stop() {
      adminS3.destroy();
      await server.close();
      if (savedEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_S3;
      else process.env.AWS_ENDPOINT_URL_S3 = savedEndpoint;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A tiny STS on the mock: each AssumeRole mints a key pair, registers it with s3rver under the role's account
 * (the customer's when the role ARN is in `customerAccountId`), and hands it out, expiring at `expiresAtMs()`.
 */
export function mintKeysOnAssumeRole(
  sts: AwsStub<ServiceInputTypes, ServiceOutputTypes, STSClientResolvedConfig>,
  s3: SignedS3rver,
  customerAccountId: string,
  expiresAtMs: () => number,
): void {
  sts.on(AssumeRoleCommand).callsFake((input: { RoleArn: string }) => {
    const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(20).toString('base64');
    (input.RoleArn.includes(`:${customerAccountId}:`) ? s3.customerAccount : s3.platformAccount).createKeyPair(accessKeyId, secretAccessKey);
    return {
      Credentials: { AccessKeyId: accessKeyId, SecretAccessKey: secretAccessKey, SessionToken: `token-${accessKeyId}`, Expiration: new Date(expiresAtMs()) },
    };
  });
}
