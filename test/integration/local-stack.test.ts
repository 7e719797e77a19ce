/**
 * The local stack's stand-ins, through plain SDK clients configured only from the env file the stack
 * wrote: IAM, STS (trust evaluation, external ID, PrincipalArn, chaining), the S3 front's closed gaps,
 * Secrets Manager, EventBridge, Lambda Invoke, the CloudFront edge.
 */
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListRolesCommand,
  ListRoleTagsCommand,
  PutRolePolicyCommand,
  TagRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { cloudFrontUrl } from '#shared/url-signers';
import { evaluate, parsePolicy } from '../../local/policy';
import { failure, startTestStack, type Creds, type EnvClients } from './local-stack-helpers';
import type { LocalStack } from '../../local/stack';

let stack: LocalStack;
let c: EnvClients;
let envFile: string;

let clockOffsetMs = 0;

beforeAll(async () => {
  ({ stack, clients: c, envFile } = await startTestStack({ clock: () => new Date(Date.now() + clockOffsetMs) }));
});
afterAll(async () => {
  await stack?.stop();
});

const trust = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const creds = (out: { Credentials?: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string } }): Creds => ({
  accessKeyId: out.Credentials!.AccessKeyId!,
  secretAccessKey: out.Credentials!.SecretAccessKey!,
  sessionToken: out.Credentials!.SessionToken!,
});

describe('the env file (contract)', () => {
  it('holds every variable DESIGN lists, with loopback endpoints', () => {
    const env = c.env;
    for (const k of [
      'AWS_REGION',
      'AWS_DEFAULT_REGION',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'PLATFORM_ACCOUNT_ID',
      'CUSTOMER_ACCOUNT_ID',
      'CUSTOMER_AWS_ACCESS_KEY_ID',
      'CUSTOMER_AWS_SECRET_ACCESS_KEY',
      'BINARY_BACKENDS_STATE_MACHINE_ARN',
      'BINARY_BACKENDS_TABLE',
      'BINARY_BACKENDS_SIGNER_FUNCTION',
      'BINARY_BACKENDS_STARTER_FUNCTION',
      'BINARY_BACKENDS_DEACTIVATE_FUNCTION',
      'BINARY_BACKENDS_DEFAULT_BUCKET',
      'BINARY_BACKENDS_CLOUDFRONT_EDGE',
      'BINARY_BACKENDS_SECRET_PREFIX',
      'BINARY_BACKENDS_EVENT_BUS',
    ]) {
      expect(env[k], k).toBeTruthy();
    }
    for (const svc of ['DYNAMODB', 'S3', 'IAM', 'STS', 'SECRETS_MANAGER', 'EVENTBRIDGE', 'LAMBDA', 'SFN']) {
      expect(env[`AWS_ENDPOINT_URL_${svc}`]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    }
    expect(env.BINARY_BACKENDS_CLOUDFRONT_EDGE).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(env.PLATFORM_ACCOUNT_ID).toBe('111111111111');
    expect(env.CUSTOMER_ACCOUNT_ID).toBe('222222222222');
  });

  it('loads in a POSIX shell with set -a exactly as the parser reads it', () => {
    const out = execFileSync('sh', ['-c', `set -a; . "${envFile}"; set +a; env`], { env: {}, encoding: 'utf8' });
    const shellEnv = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    for (const [k, v] of Object.entries(c.env)) expect(shellEnv[k], k).toBe(v);
  });

  it('names the two accounts through GetCallerIdentity', async () => {
    expect((await c.sts().send(new GetCallerIdentityCommand({}))).Account).toBe('111111111111');
    expect((await c.sts(c.customer).send(new GetCallerIdentityCommand({}))).Account).toBe('222222222222');
    const bad = await failure(c.sts({ accessKeyId: c.platform.accessKeyId, secretAccessKey: 'wrong' }).send(new GetCallerIdentityCommand({})));
    expect(bad).toMatchObject({ name: 'SignatureDoesNotMatch', status: 403 });
    const unknown = await failure(c.sts({ accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' }).send(new GetCallerIdentityCommand({})));
    expect(unknown).toMatchObject({ name: 'InvalidClientTokenId', status: 403 });
  });
});

describe('DynamoDB (dynalite behind a SigV4 check)', () => {
  it('serves signed requests and refuses bad signatures and unknown keys', async () => {
    const tables = await c.dynamo().send(new ListTablesCommand({}));
    expect(tables.TableNames).toContain(c.env.BINARY_BACKENDS_TABLE);
    const bad = await failure(c.dynamo({ accessKeyId: c.platform.accessKeyId, secretAccessKey: 'wrong' }).send(new ListTablesCommand({})));
    expect(bad).toMatchObject({ name: 'InvalidSignatureException', status: 400 });
    const unknown = await failure(c.dynamo({ accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' }).send(new ListTablesCommand({})));
    expect(unknown).toMatchObject({ name: 'UnrecognizedClientException', status: 400 });
    expect((await fetch(c.env.AWS_ENDPOINT_URL_DYNAMODB!, { method: 'POST', body: '{}' })).status).toBe(400);
  });
});

describe('IAM', () => {
  it('creates roles with path, tags and boundary, case-insensitively unique per account', async () => {
    const iam = c.iam(c.customer);
    const created = await iam.send(
      new CreateRoleCommand({
        RoleName: 'IamCaseRole',
        Path: '/peridio/',
        AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: 'sts:AssumeRole' }]),
        Tags: [{ Key: 'team', Value: 'firmware' }],
        PermissionsBoundary: 'arn:aws:iam::aws:policy/PowerUserAccess',
      }),
    );
    expect(created.Role?.Arn).toBe('arn:aws:iam::222222222222:role/peridio/IamCaseRole');
    expect(created.Role?.RoleId).toMatch(/^AROA/);
    const got = await iam.send(new GetRoleCommand({ RoleName: 'iamcaserole' }));
    expect(got.Role?.RoleName).toBe('IamCaseRole');
    expect(JSON.parse(decodeURIComponent(got.Role!.AssumeRolePolicyDocument!)).Statement[0].Principal.AWS).toBe('222222222222');
    expect(got.Role?.PermissionsBoundary?.PermissionsBoundaryArn).toBe('arn:aws:iam::aws:policy/PowerUserAccess');
    expect(got.Role?.Tags).toEqual([{ Key: 'team', Value: 'firmware' }]);

    const dup = await failure(iam.send(new CreateRoleCommand({ RoleName: 'IAMCASEROLE', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: 'sts:AssumeRole' }]) })));
    expect(dup).toMatchObject({ name: 'EntityAlreadyExistsException', status: 409 });
    // Another account has its own namespace.
    await c.iam().send(new CreateRoleCommand({ RoleName: 'IamCaseRole', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: '111111111111' }, Action: 'sts:AssumeRole' }]) }));

    const missing = await failure(iam.send(new GetRoleCommand({ RoleName: 'NoSuchRoleHere' })));
    expect(missing).toMatchObject({ name: 'NoSuchEntityException', status: 404 });
    const badBoundary = await failure(
      iam.send(new CreateRoleCommand({ RoleName: 'Bounded', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: 'sts:AssumeRole' }]), PermissionsBoundary: 'arn:aws:iam::222222222222:policy/none' })),
    );
    expect(badBoundary).toMatchObject({ name: 'NoSuchEntityException', status: 404 });

    await iam.send(new TagRoleCommand({ RoleName: 'IamCaseRole', Tags: [{ Key: 'env', Value: 'prod' }] }));
    expect((await iam.send(new ListRoleTagsCommand({ RoleName: 'IamCaseRole' }))).Tags).toEqual([
      { Key: 'team', Value: 'firmware' },
      { Key: 'env', Value: 'prod' },
    ]);
    const roles = (await iam.send(new ListRolesCommand({ PathPrefix: '/peridio/' }))).Roles ?? [];
    expect(roles.map((r) => r.RoleName)).toEqual(['IamCaseRole']);
  });

  it('keeps inline policies, and refuses to delete a role that has some', async () => {
    const iam = c.iam(c.customer);
    await iam.send(new CreateRoleCommand({ RoleName: 'Inline', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: 'sts:AssumeRole' }]) }));
    const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/*' }] });
    await iam.send(new PutRolePolicyCommand({ RoleName: 'Inline', PolicyName: 'p1', PolicyDocument: doc }));
    const got = await iam.send(new GetRolePolicyCommand({ RoleName: 'Inline', PolicyName: 'p1' }));
    expect(decodeURIComponent(got.PolicyDocument!)).toBe(doc);
    expect(await failure(iam.send(new DeleteRoleCommand({ RoleName: 'Inline' })))).toMatchObject({ name: 'DeleteConflictException', status: 409 });
    await iam.send(new DeleteRolePolicyCommand({ RoleName: 'Inline', PolicyName: 'p1' }));
    expect(await failure(iam.send(new GetRolePolicyCommand({ RoleName: 'Inline', PolicyName: 'p1' })))).toMatchObject({ name: 'NoSuchEntityException', status: 404 });
    await iam.send(new DeleteRoleCommand({ RoleName: 'Inline' }));
  });

  it('answers "Invalid principal in policy" for a trust naming a role that does not exist (yet)', async () => {
    const iam = c.iam(c.customer);
    await iam.send(new CreateRoleCommand({ RoleName: 'WaitsForPeridio', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::222222222222:root' }, Action: 'sts:AssumeRole' }]) }));
    const policy = trust([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:role/binary_backend_not-yet' }, Action: 'sts:AssumeRole' }]);
    const err = await failure(iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: 'WaitsForPeridio', PolicyDocument: policy })));
    expect(err).toMatchObject({ name: 'MalformedPolicyDocumentException', status: 400 });
    expect(err.message).toBe('Invalid principal in policy: "AWS":"arn:aws:iam::111111111111:role/binary_backend_not-yet"');
    // Session ARNs and partial wildcards are not principals either.
    for (const p of ['arn:aws:sts::111111111111:assumed-role/x/y', 'arn:aws:iam::111111111111:role/binary_*']) {
      const e = await failure(iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: 'WaitsForPeridio', PolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: p }, Action: 'sts:AssumeRole' }]) })));
      expect(e.message).toContain('Invalid principal in policy');
    }
    // Once the role exists, the same policy saves.
    await c.iam().send(new CreateRoleCommand({ RoleName: 'binary_backend_not-yet', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: '111111111111' }, Action: 'sts:AssumeRole' }]) }));
    await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: 'WaitsForPeridio', PolicyDocument: policy }));
    const bad = await failure(iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: 'WaitsForPeridio', PolicyDocument: '{not json' })));
    expect(bad).toMatchObject({ name: 'MalformedPolicyDocumentException', status: 400 });
  });
});

describe('STS AssumeRole evaluates trust policies', () => {
  const platformRoleName = 'binary_backend_sts-org_prod';
  const platformRoleArn = `arn:aws:iam::111111111111:role/${platformRoleName}`;
  const customerRoleArn = 'arn:aws:iam::222222222222:role/StsCustomerRole';
  let functionLike: Creds;
  let platform: Creds;

  beforeAll(async () => {
    // A role named like the service's function roles, assumable by the platform's support user: its
    // session plays the function role (the env file carries no function credentials).
    await c.iam().send(
      new CreateRoleCommand({
        RoleName: 'binary-backends-local-tester',
        MaxSessionDuration: 7200,
        AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:user/local-support' }, Action: 'sts:AssumeRole' }]),
      }),
    );
    // The platform role's trust, as CreatePlatformRole writes it: the account, limited by PrincipalArn.
    await c.iam().send(
      new CreateRoleCommand({
        RoleName: platformRoleName,
        AssumeRolePolicyDocument: trust([
          {
            Effect: 'Allow',
            Principal: { AWS: 'arn:aws:iam::111111111111:root' },
            Action: 'sts:AssumeRole',
            Condition: { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::111111111111:role/binary-backends-local-*' } },
          },
        ]),
      }),
    );
    await c.iam().send(
      new PutRolePolicyCommand({
        RoleName: platformRoleName,
        PolicyName: 'assume-customer-role',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: customerRoleArn }] }),
      }),
    );
    await c.iam(c.customer).send(
      new CreateRoleCommand({ RoleName: 'StsCustomerRole', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: 'sts:AssumeRole' }]) }),
    );
    functionLike = creds(
      await c.sts().send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111111111111:role/binary-backends-local-tester', RoleSessionName: 'tester', DurationSeconds: 7200 })),
    );
    platform = creds(await c.sts(functionLike).send(new AssumeRoleCommand({ RoleArn: platformRoleArn, RoleSessionName: 'hop1' })));
  });

  it('honours ArnLike aws:PrincipalArn on the platform role', async () => {
    const who = await c.sts(platform).send(new GetCallerIdentityCommand({}));
    expect(who.Arn).toBe(`arn:aws:sts::111111111111:assumed-role/${platformRoleName}/hop1`);
    // The support user is in the account but not a function role: denied, with AWS's message.
    const denied = await failure(c.sts().send(new AssumeRoleCommand({ RoleArn: platformRoleArn, RoleSessionName: 'support' })));
    expect(denied).toMatchObject({ name: 'AccessDenied', status: 403 });
    expect(denied.message).toBe(`User: arn:aws:iam::111111111111:user/local-support is not authorized to perform: sts:AssumeRole on resource: ${platformRoleArn}`);
  });

  it('denies the customer hop until the customer applies the trust policy, then requires the external ID', async () => {
    const hop2 = (externalId?: string) => c.sts(platform).send(new AssumeRoleCommand({ RoleArn: customerRoleArn, RoleSessionName: 'hop2', ExternalId: externalId }));
    const before = await failure(hop2('sts-org'));
    expect(before).toMatchObject({ name: 'AccessDenied', status: 403 });
    expect(before.message).toBe(`User: arn:aws:sts::111111111111:assumed-role/${platformRoleName}/hop1 is not authorized to perform: sts:AssumeRole on resource: ${customerRoleArn}`);

    await c.iam(c.customer).send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: 'StsCustomerRole',
        PolicyDocument: trust([
          { Effect: 'Allow', Principal: { AWS: platformRoleArn }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'sts:ExternalId': 'sts-org' } } },
        ]),
      }),
    );
    const ok = await hop2('sts-org');
    expect(ok.AssumedRoleUser?.Arn).toBe('arn:aws:sts::222222222222:assumed-role/StsCustomerRole/hop2');
    expect((await failure(hop2())).name).toBe('AccessDenied');
    expect((await failure(hop2('wrong-org'))).name).toBe('AccessDenied');
    const customerSession = creds(ok);
    expect((await c.sts(customerSession).send(new GetCallerIdentityCommand({}))).Account).toBe('222222222222');
  });

  it('lets an explicit Deny win over an Allow, across statements', async () => {
    await c.iam(c.customer).send(
      new CreateRoleCommand({
        RoleName: 'DenyWins',
        AssumeRolePolicyDocument: trust([
          { Effect: 'Allow', Principal: { AWS: '111111111111' }, Action: 'sts:AssumeRole' },
          { Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sts:AssumeRole', Condition: { StringNotEquals: { 'sts:ExternalId': 'only-this' } } },
        ]),
      }),
    );
    const call = (externalId?: string) => c.sts().send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::222222222222:role/DenyWins', RoleSessionName: 's1', ExternalId: externalId }));
    expect((await failure(call())).name).toBe('AccessDenied');
    expect((await failure(call('other'))).name).toBe('AccessDenied');
    expect((await call('only-this')).Credentials?.AccessKeyId).toMatch(/^ASIA/);
  });

  it("checks the caller's own inline policy for sts:AssumeRole", async () => {
    // The platform role's policy allows only StsCustomerRole; this one trusts the platform role too.
    await c.iam(c.customer).send(
      new CreateRoleCommand({ RoleName: 'NotInPolicy', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: platformRoleArn }, Action: 'sts:AssumeRole' }]) }),
    );
    const err = await failure(c.sts(platform).send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::222222222222:role/NotInPolicy', RoleSessionName: 'x1' })));
    expect(err.name).toBe('AccessDenied');
  });

  it('caps chained sessions at one hour, like AWS', async () => {
    const err = await failure(c.sts(functionLike).send(new AssumeRoleCommand({ RoleArn: platformRoleArn, RoleSessionName: 'long', DurationSeconds: 7200 })));
    expect(err).toMatchObject({ name: 'ValidationError', status: 400 });
    expect(err.message).toBe('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
    const ok = await c.sts(functionLike).send(new AssumeRoleCommand({ RoleArn: platformRoleArn, RoleSessionName: 'hour', DurationSeconds: 3600 }));
    const left = ok.Credentials!.Expiration!.getTime() - Date.now();
    expect(left).toBeGreaterThan(3500_000);
    expect(left).toBeLessThanOrEqual(3600_000);
    // Not chaining (a user's own keys): the role's MaxSessionDuration is the limit.
    const tooLong = await failure(c.sts().send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111111111111:role/binary-backends-local-tester', RoleSessionName: 'user', DurationSeconds: 10_800 })));
    expect(tooLong.message).toBe('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    const tooShort = await failure(c.sts().send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111111111111:role/binary-backends-local-tester', RoleSessionName: 'user', DurationSeconds: 60 })));
    expect(tooShort.name).toBe('ValidationError');
  });

  it('stops trusting a role that was deleted and recreated under the same name', async () => {
    const iam = c.iam();
    await iam.send(new CreateRoleCommand({ RoleName: 'binary-backends-local-recreated', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:user/local-support' }, Action: 'sts:AssumeRole' }]) }));
    await c.iam(c.customer).send(
      new CreateRoleCommand({ RoleName: 'TrustsRecreated', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:role/binary-backends-local-recreated' }, Action: 'sts:AssumeRole' }]) }),
    );
    const session = async () => creds(await c.sts().send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111111111111:role/binary-backends-local-recreated', RoleSessionName: 'recreate' })));
    const target = { RoleArn: 'arn:aws:iam::222222222222:role/TrustsRecreated', RoleSessionName: 'r2' };
    await c.sts(await session()).send(new AssumeRoleCommand(target));
    await iam.send(new DeleteRoleCommand({ RoleName: 'binary-backends-local-recreated' }));
    await iam.send(new CreateRoleCommand({ RoleName: 'binary-backends-local-recreated', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:user/local-support' }, Action: 'sts:AssumeRole' }]) }));
    expect((await failure(c.sts(await session()).send(new AssumeRoleCommand(target)))).name).toBe('AccessDenied');
  });
});

describe('S3 front over s3rver', () => {
  const bucket = 'local-stack-s3-test';
  beforeAll(async () => {
    await c.s3('eu-west-1', c.customer).send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  });

  it('serves bucket-level calls, with the region header', async () => {
    const s3 = c.s3('eu-west-1', c.customer);
    const head = await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    expect(head.BucketRegion).toBe('eu-west-1');
    expect((await s3.send(new GetBucketLocationCommand({ Bucket: bucket }))).LocationConstraint).toBe('eu-west-1');
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toContain(bucket);
    // The platform account's listing does not show the customer's bucket.
    expect((await c.s3().send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toEqual([c.env.BINARY_BACKENDS_DEFAULT_BUCKET]);
    const clash = await failure(c.s3('eu-west-1').send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } })));
    expect(clash).toMatchObject({ name: 'BucketAlreadyExists', status: 409 });
    await s3.send(new CreateBucketCommand({ Bucket: 'local-stack-deleted', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'local-stack-deleted' }));
    expect(await failure(s3.send(new HeadBucketCommand({ Bucket: 'local-stack-deleted' })))).toMatchObject({ status: 404 });
  });

  it('answers 301 PermanentRedirect with x-amz-bucket-region for the wrong region', async () => {
    const err = await failure(c.s3('us-east-1', c.customer).send(new HeadBucketCommand({ Bucket: bucket })));
    expect(err.status).toBe(301);
    expect(err.name).toBe('Unknown');
    expect(err.headers['x-amz-bucket-region']).toBe('eu-west-1');
    const get = await failure(c.s3('us-west-2', c.customer).send(new ListObjectsV2Command({ Bucket: bucket })));
    expect(get).toMatchObject({ name: 'PermanentRedirect', status: 301 });
  });

  it('checks ExpectedBucketOwner', async () => {
    const s3 = c.s3('eu-west-1', c.customer);
    await s3.send(new HeadBucketCommand({ Bucket: bucket, ExpectedBucketOwner: '222222222222' }));
    expect(await failure(s3.send(new HeadBucketCommand({ Bucket: bucket, ExpectedBucketOwner: '111111111111' })))).toMatchObject({ status: 403 });
    expect(await failure(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'x', Body: 'x', ExpectedBucketOwner: '111111111111' })))).toMatchObject({ name: 'AccessDenied', status: 403 });
  });

  it('refuses unsigned, tampered, expired and wrong-secret requests; presigned URLs work with assumed-role keys', async () => {
    const s3 = c.s3('eu-west-1', c.customer);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/hello world.txt', Body: Buffer.from('hello') }));
    const base = `${c.env.AWS_ENDPOINT_URL_S3}/${bucket}/dir/hello%20world.txt`;
    expect((await fetch(base)).status).toBe(403);
    expect((await fetch(`${c.env.AWS_ENDPOINT_URL_S3}/${bucket}`)).status).toBe(403);
    expect((await fetch(base, { method: 'PUT', body: 'evil' })).status).toBe(403);

    await c.iam(c.customer).send(new CreateRoleCommand({ RoleName: 'PresignRole', AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: 'sts:AssumeRole' }]) }));
    const session = creds(await c.sts(c.customer).send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::222222222222:role/PresignRole', RoleSessionName: 'presign' })));
    const url = await getSignedUrl(c.s3('eu-west-1', session), new GetObjectCommand({ Bucket: bucket, Key: 'dir/hello world.txt' }), { expiresIn: 300 });
    expect(url).toContain('X-Amz-Security-Token=');
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('hello');
    expect((await fetch(url.replace('hello%20world', 'hello%20World'))).status).toBe(403);
    expect((await fetch(url.replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000'))).status).toBe(403);
    const wrongSecret = await getSignedUrl(c.s3('eu-west-1', { ...session, secretAccessKey: 'nope' }), new GetObjectCommand({ Bucket: bucket, Key: 'dir/hello world.txt' }), { expiresIn: 300 });
    expect((await fetch(wrongSecret)).status).toBe(403);
    const old = await getSignedUrl(c.s3('eu-west-1', c.customer), new GetObjectCommand({ Bucket: bucket, Key: 'dir/hello world.txt' }), {
      expiresIn: 60,
      signingDate: new Date(Date.now() - 3600_000),
    });
    const expired = await fetch(old);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toContain('Request has expired');

    // When the session expires, its URLs stop working (the stack's clock moves; nothing sleeps).
    clockOffsetMs = 3601_000;
    try {
      const dead = await fetch(url);
      expect(dead.status).toBe(400);
      expect(await dead.text()).toContain('<Code>ExpiredToken</Code>');
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('checks x-amz-checksum-* against the body, like S3 (a presigned PUT with the CRC of an empty body fails)', async () => {
    // An S3 client with the SDK's default checksum behaviour: PutObject sends x-amz-checksum-crc32.
    const defaults = new S3Client({ region: 'eu-west-1', endpoint: c.env.AWS_ENDPOINT_URL_S3, credentials: c.customer, maxAttempts: 1 });
    await defaults.send(new PutObjectCommand({ Bucket: bucket, Key: 'checksummed.bin', Body: Buffer.from('payload') }));
    expect(await (await c.s3('eu-west-1', c.customer).send(new GetObjectCommand({ Bucket: bucket, Key: 'checksummed.bin' }))).Body!.transformToString()).toBe('payload');
    const presigned = await getSignedUrl(defaults, new PutObjectCommand({ Bucket: bucket, Key: 'presigned.bin' }), { expiresIn: 300 });
    expect(presigned).toContain('x-amz-checksum-crc32=');
    const rejected = await fetch(presigned, { method: 'PUT', body: 'firmware' });
    expect(rejected.status).toBe(400);
    expect(await rejected.text()).toContain('<Code>BadDigest</Code>');
    const clean = await getSignedUrl(c.s3('eu-west-1', c.customer), new PutObjectCommand({ Bucket: bucket, Key: 'presigned.bin' }), { expiresIn: 300 });
    expect(clean).not.toContain('x-amz-checksum');
    expect((await fetch(clean, { method: 'PUT', body: 'firmware' })).status).toBe(200);
  });

  it('aborts and completes multipart uploads', async () => {
    const s3 = c.s3('eu-west-1', c.customer);
    const key = 'multi/part.bin';
    const started = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: started.UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 1) }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: started.UploadId }));
    const after = await failure(s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: started.UploadId, PartNumber: 2, Body: Buffer.alloc(10) })));
    expect(after).toMatchObject({ name: 'NoSuchUpload', status: 404 });
    expect(await failure(s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: started.UploadId })))).toMatchObject({ name: 'NoSuchUpload', status: 404 });

    const second = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: second.UploadId, PartNumber: 1, Body: Buffer.from('abc') }));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: second.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength).toBe(3);
  });
});

describe('Secrets Manager', () => {
  it('creates, versions, reads by id and stage, describes and deletes secrets', async () => {
    const sm = c.secrets();
    const name = `${c.env.BINARY_BACKENDS_SECRET_PREFIX}test-key`;
    const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'v1' }));
    expect(created.ARN).toMatch(new RegExp(`^arn:aws:secretsmanager:us-east-1:111111111111:secret:${name}-[A-Za-z0-9]{6}$`));
    expect(await failure(sm.send(new CreateSecretCommand({ Name: name, SecretString: 'again' })))).toMatchObject({ name: 'ResourceExistsException' });
    const v2 = await sm.send(new PutSecretValueCommand({ SecretId: created.ARN, SecretString: 'v2' }));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('v2');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: created.ARN, VersionId: created.VersionId }))).SecretString).toBe('v1');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: created.ARN, VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('v1');
    const described = await sm.send(new DescribeSecretCommand({ SecretId: created.ARN }));
    expect(described.VersionIdsToStages).toEqual({ [created.VersionId!]: ['AWSPREVIOUS'], [v2.VersionId!]: ['AWSCURRENT'] });
    // Another account cannot see it by name.
    expect(await failure(c.secrets(c.customer).send(new GetSecretValueCommand({ SecretId: name })))).toMatchObject({ name: 'ResourceNotFoundException' });
    await sm.send(new DeleteSecretCommand({ SecretId: created.ARN, RecoveryWindowInDays: 7 }));
    expect(await failure(sm.send(new GetSecretValueCommand({ SecretId: created.ARN })))).toMatchObject({ name: 'InvalidRequestException' });
    // Scheduling it again is refused, like Secrets Manager (offboard reads this as "already scheduled").
    expect(await failure(sm.send(new DeleteSecretCommand({ SecretId: created.ARN, RecoveryWindowInDays: 30 })))).toMatchObject({
      name: 'InvalidRequestException',
      message: expect.stringMatching(/marked for deletion/),
    });
    await sm.send(new DeleteSecretCommand({ SecretId: created.ARN, ForceDeleteWithoutRecovery: true }));
    expect(await failure(sm.send(new GetSecretValueCommand({ SecretId: created.ARN })))).toMatchObject({ name: 'ResourceNotFoundException' });
  });
});

describe('EventBridge', () => {
  it('records events, readable in-process and over HTTP, and routes Onboarding Requested to the starter', async () => {
    const seen: unknown[] = [];
    stack.registerFunction(stack.names.function('starter'), async (event) => {
      seen.push(event);
      return { ok: true };
    });
    const out = await c.events().send(
      new PutEventsCommand({
        Entries: [
          { EventBusName: c.env.BINARY_BACKENDS_EVENT_BUS, Source: 'peridio.binary-backends', DetailType: 'Onboarding Requested', Detail: JSON.stringify({ orgId: 'o-1' }) },
          { EventBusName: 'no-such-bus', Source: 'peridio.binary-backends', DetailType: 'X', Detail: '{}' },
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(1);
    expect(out.Entries?.[1]?.ErrorCode).toBeTruthy();
    await stack.eventBridge.drain();
    expect(seen).toEqual([expect.objectContaining({ 'detail-type': 'Onboarding Requested', source: 'peridio.binary-backends', detail: { orgId: 'o-1' } })]);
    const logged = stack.events.find((e) => e.id === out.Entries?.[0]?.EventId);
    expect(logged?.deliveries).toEqual([{ rule: 'binary-backends-local-onboarding-requested', target: 'binary-backends-local-starter', ok: true }]);
    const overHttp = (await (await fetch(`${c.env.AWS_ENDPOINT_URL_EVENTBRIDGE}/_local/events`)).json()) as { events: { id: string }[] };
    expect(overHttp.events.map((e) => e.id)).toContain(out.Entries?.[0]?.EventId);
  });
});

describe('Lambda Invoke', () => {
  it('runs functions by name and reports errors like Lambda', async () => {
    stack.registerFunction('binary-backends-local-test-thrower', async () => {
      const e = new Error('the field orgId is wrong');
      e.name = 'ValidationError';
      throw e;
    });
    const lambda = c.lambda();
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'binary-backends-local-test-thrower', Payload: Buffer.from('{}') }));
    expect(out.StatusCode).toBe(200);
    expect(out.FunctionError).toBe('Unhandled');
    expect(JSON.parse(Buffer.from(out.Payload!).toString())).toMatchObject({ errorType: 'ValidationError', errorMessage: 'the field orgId is wrong' });
    expect(await failure(lambda.send(new InvokeCommand({ FunctionName: 'binary-backends-local-nope' })))).toMatchObject({ name: 'ResourceNotFoundException', status: 404 });
  });

  it('runs the real signer handler, which refuses a bad request with a named error', async () => {
    const out = await c.lambda().send(new InvokeCommand({ FunctionName: c.env.BINARY_BACKENDS_SIGNER_FUNCTION, Payload: Buffer.from(JSON.stringify({ orgId: 'not-a-uuid', operation: 'download', keys: ['a'] })) }));
    expect(out.FunctionError).toBe('Unhandled');
    expect(JSON.parse(Buffer.from(out.Payload!).toString()).errorType).toBe('ValidationError');
  });
});

describe('CloudFront edge', () => {
  const bucket = 'local-stack-cdn';
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let host: string;
  beforeAll(async () => {
    await c.s3('us-west-2', c.customer).send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'us-west-2' } }));
    await c.s3('us-west-2', c.customer).send(new PutObjectCommand({ Bucket: bucket, Key: 'peridio/fw/a b.bin', Body: Buffer.from('firmware-bytes') }));
    stack.registerDistribution({
      bucket,
      originPath: 'peridio/',
      publicKeys: [
        { id: 'KRSATESTKEY0001', publicKeyPem: rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string },
        { id: 'KECTESTKEY00001', publicKeyPem: ec.publicKey.export({ type: 'spki', format: 'pem' }) as string },
      ],
    });
    host = c.env.BINARY_BACKENDS_CLOUDFRONT_EDGE!;
  });

  const signed = (keyPairId: string, privateKey: typeof rsa.privateKey, hashAlgorithm: 'SHA1' | 'SHA256', expiresEpochSeconds = Math.floor(Date.now() / 1000) + 300) =>
    cloudFrontUrl({ host, objectPath: 'fw/a b.bin', keyPairId, privateKey, hashAlgorithm, expiresEpochSeconds });

  it('serves signed URLs (RSA SHA-1 and SHA-256, EC P-256)', async () => {
    for (const url of [signed('KRSATESTKEY0001', rsa.privateKey, 'SHA1'), signed('KRSATESTKEY0001', rsa.privateKey, 'SHA256'), signed('KECTESTKEY00001', ec.privateKey, 'SHA256')]) {
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      expect(await res.text()).toBe('firmware-bytes');
    }
  });

  it('answers 403 to unsigned, expired, tampered and unknown-key requests', async () => {
    expect((await fetch(`http://${host}/fw/a%20b.bin`)).status).toBe(403);
    expect((await fetch(signed('KRSATESTKEY0001', rsa.privateKey, 'SHA1', Math.floor(Date.now() / 1000) - 1))).status).toBe(403);
    const good = signed('KRSATESTKEY0001', rsa.privateKey, 'SHA1');
    expect((await fetch(good.replace('a%20b.bin', 'b%20b.bin'))).status).toBe(403);
    expect((await fetch(good.replace(/Expires=(\d+)/, (_, n: string) => `Expires=${Number(n) + 1000}`))).status).toBe(403);
    expect((await fetch(good.replace('KRSATESTKEY0001', 'KUNKNOWNKEY0001'))).status).toBe(403);
    // Signed by another key than the one the id names.
    expect((await fetch(signed('KECTESTKEY00001', rsa.privateKey, 'SHA256'))).status).toBe(403);
    // A hand-made canned policy signature checks out the same way (no helper involved).
    const expires = Math.floor(Date.now() / 1000) + 60;
    const resource = `http://${host}/fw/a%20b.bin`;
    const policy = `{"Statement":[{"Resource":"${resource}","Condition":{"DateLessThan":{"AWS:EpochTime":${expires}}}}]}`;
    const sig = sign('sha1', Buffer.from(policy), rsa.privateKey).toString('base64').replace(/\+/g, '-').replace(/=/g, '_').replace(/\//g, '~');
    const res = await fetch(`${resource}?Expires=${expires}&Signature=${sig}&Key-Pair-Id=KRSATESTKEY0001`);
    expect(res.status).toBe(200);
    expect(createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')).toBe(createHash('sha256').update('firmware-bytes').digest('hex'));
  });
});



describe('trust policy evaluation (local/policy.ts, pure)', () => {
  const doc = (statements: object[]) => parsePolicy(JSON.stringify({ Version: '2012-10-17', Statement: statements }));
  const anyone = () => true;

  it('applies AWS semantics for missing keys, IfExists, Null and negated operators', () => {
    const allowIf = (condition: object) => doc([{ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'sts:AssumeRole', Condition: condition }]);
    const run = (d: ReturnType<typeof doc>, context: Record<string, string | undefined>) => evaluate(d, 'sts:AssumeRole', { principal: anyone, context });
    expect(run(allowIf({ StringEquals: { 'sts:ExternalId': 'x' } }), {})).toBe('implicit');
    expect(run(allowIf({ StringEquals: { 'sts:ExternalId': ['y', 'x'] } }), { 'sts:ExternalId': 'x' })).toBe('allow');
    expect(run(allowIf({ StringNotEquals: { 'sts:ExternalId': 'x' } }), {})).toBe('allow');
    expect(run(allowIf({ StringEqualsIfExists: { 'sts:ExternalId': 'x' } }), {})).toBe('allow');
    expect(run(allowIf({ Null: { 'sts:ExternalId': 'false' } }), {})).toBe('implicit');
    expect(run(allowIf({ Null: { 'sts:ExternalId': 'false' } }), { 'sts:ExternalId': 'x' })).toBe('allow');
    expect(run(allowIf({ StringLike: { 'sts:ExternalId': 'org-?-*' } }), { 'sts:ExternalId': 'org-1-abc' })).toBe('allow');
    // Keys are case-insensitive, values are not.
    expect(run(allowIf({ StringEquals: { 'STS:EXTERNALID': 'x' } }), { 'sts:ExternalId': 'x' })).toBe('allow');
    expect(run(allowIf({ StringEquals: { 'sts:ExternalId': 'X' } }), { 'sts:ExternalId': 'x' })).toBe('implicit');
    // An operator the stack does not model never grants.
    expect(run(allowIf({ 'ForAnyValue:StringEquals': { 'sts:ExternalId': 'x' } }), { 'sts:ExternalId': 'x' })).toBe('implicit');
    // Several conditions all have to hold.
    const both = allowIf({ StringEquals: { 'sts:ExternalId': 'x' }, ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::111111111111:role/app-*' } });
    expect(run(both, { 'sts:ExternalId': 'x', 'aws:PrincipalArn': 'arn:aws:iam::111111111111:role/app-1' })).toBe('allow');
    expect(run(both, { 'sts:ExternalId': 'x', 'aws:PrincipalArn': 'arn:aws:iam::111111111111:role/other' })).toBe('implicit');
  });

  it('matches actions with wildcards and lets Deny win', () => {
    const d = doc([
      { Effect: 'Allow', Principal: { AWS: '*' }, Action: 'sts:*' },
      { Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sts:AssumeRole', Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
    ]);
    expect(evaluate(d, 'sts:AssumeRole', { principal: anyone, context: {} })).toBe('allow');
    expect(evaluate(d, 'STS:ASSUMEROLE', { principal: anyone, context: { 'aws:SecureTransport': 'false' } })).toBe('deny');
    expect(() => parsePolicy('{"Statement": []}')).toThrow(/Syntax errors/);
    expect(() => parsePolicy('nope')).toThrow(/invalid Json/);
  });
});
