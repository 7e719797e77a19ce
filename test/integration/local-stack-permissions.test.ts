/**
 * Opt-in S3 permission evaluation (`evaluateS3Permissions`): a role session's S3 requests must be allowed
 * by its role's inline policies. With it, the real workflow shows that the customer policy from the guide
 * (Get/Put/DeleteObject, ListBucket) is enough for every S3 call the onboarding makes, and that a role
 * lacking s3:PutObject fails with StoragePermissionError, which the default stack cannot show.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateRoleCommand, PutRolePolicyCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, GetObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { LocalStack } from '../../local/stack';
import { failure, nextEvent, startTestStack, type EnvClients } from './local-stack-helpers';

let stack: LocalStack;
let c: EnvClients;

beforeAll(async () => {
  ({ stack, clients: c } = await startTestStack({ evaluateS3Permissions: true, waitForTrustMs: 20 }));
});
afterAll(async () => {
  await stack?.stop();
});

async function customer(bucket: string, roleName: string, actions: string[]) {
  await c.s3('eu-west-1', c.customer).send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  await c.iam(c.customer).send(
    new CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: 'sts:AssumeRole' }] }),
    }),
  );
  await c.iam(c.customer).send(
    new PutRolePolicyCommand({
      RoleName: roleName,
      PolicyName: 'PeridioBinaries',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }] }),
    }),
  );
  return `arn:aws:iam::222222222222:role/${roleName}`;
}

async function onboard(orgId: string, bucket: string, roleArn: string, roleName: string) {
  const input = { orgId, roleName: 'prod', configVersion: 1, requestedBy: 'test', upload: { bucket, region: 'eu-west-1', roleArn }, download: { type: 's3' } };
  const started = await c.sfn().send(new StartExecutionCommand({ stateMachineArn: c.env.BINARY_BACKENDS_STATE_MACHINE_ARN, name: `${orgId}-prod-1`, input: JSON.stringify(input) }));
  const ready = await nextEvent(stack, (e) => e.detailType === 'Trust Policy Ready' && (e.detail as { orgId: string }).orgId === orgId);
  await c.iam(c.customer).send(new UpdateAssumeRolePolicyCommand({ RoleName: roleName, PolicyDocument: JSON.stringify((ready.detail as { trustPolicy: unknown }).trustPolicy) }));
  return stack.waitForExecution(started.executionArn!);
}

const GUIDE = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:ListBucket'];

describe('S3 permission evaluation (opt-in)', () => {
  it("allows what the role's inline policy allows, and nothing else", async () => {
    const roleArn = await customer('perm-readonly', 'ReadOnly', ['s3:GetObject', 's3:ListBucket']);
    await c.s3('eu-west-1', c.customer).send(new PutObjectCommand({ Bucket: 'perm-readonly', Key: 'a.txt', Body: Buffer.from('a') }));
    const out = await c.sts(c.customer).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'reader' }));
    const session = { accessKeyId: out.Credentials!.AccessKeyId!, secretAccessKey: out.Credentials!.SecretAccessKey!, sessionToken: out.Credentials!.SessionToken! };
    const s3 = c.s3('eu-west-1', session);
    await s3.send(new HeadBucketCommand({ Bucket: 'perm-readonly' }));
    expect(await (await s3.send(new GetObjectCommand({ Bucket: 'perm-readonly', Key: 'a.txt' }))).Body!.transformToString()).toBe('a');
    expect(await failure(s3.send(new PutObjectCommand({ Bucket: 'perm-readonly', Key: 'b.txt', Body: Buffer.from('b') })))).toMatchObject({ name: 'AccessDenied', status: 403 });
  });

  it("the guide's customer policy covers every S3 call of the real onboarding", async () => {
    const orgId = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
    const roleArn = await customer('perm-guide', 'GuidePolicy', GUIDE);
    const done = await onboard(orgId, 'perm-guide', roleArn, 'GuidePolicy');
    expect(done.status, done.cause).toBe('SUCCEEDED');
  });

  it('a role without s3:PutObject fails the onboarding with StoragePermissionError', async () => {
    const orgId = '8d0e6b1f-2c4a-4e9b-a7f3-5b9c1d2e3f40';
    const roleArn = await customer('perm-noput', 'NoPut', ['s3:GetObject', 's3:DeleteObject', 's3:ListBucket']);
    const done = await onboard(orgId, 'perm-noput', roleArn, 'NoPut');
    expect(done.status).toBe('FAILED');
    expect(done.error).toBe('StoragePermissionError');
  });
});
