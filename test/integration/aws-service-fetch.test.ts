/**
 * The signer's tiny service clients (aws-fetch.ts, dynamodb-fetch.ts, sts-fetch.ts, secrets-fetch.ts) against
 * the local stack's stand-ins (dynalite, local/sts.ts, local/secrets-manager.ts), configured only from the env
 * file the stack wrote, as the deployed signer is from its environment. The stand-ins check SigV4 signatures
 * and speak the services' wire protocols, so this proves the requests and the reading of the answers; each
 * answer and each error is compared with what the SDK client gets for the same call.
 */
import { generateKeyPairSync } from 'node:crypto';
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCloudFrontKey } from '#shared/cloudfront-keys';
import { RoleBroker, type AwsCredentials } from '#shared/credential-broker';
import { fetchItemReader } from '#shared/dynamodb-fetch';
import { AssumeRoleDeniedError, CloudFrontKeyError } from '#shared/errors';
import { fetchGetSecret } from '#shared/secrets-fetch';
import { fetchAssumeRole } from '#shared/sts-fetch';
import type { LocalStack } from '../../local/stack';
import { failure, startTestStack, type EnvClients } from './local-stack-helpers';

let stack: LocalStack;
let c: EnvClients;
/** The signer's environment: the env file's endpoints, region and (platform) credentials. */
let env: Record<string, string>;

const PLATFORM_TARGET = 'arn:aws:iam::111111111111:role/FetchPlatformTarget';
const CUSTOMER_TARGET = 'arn:aws:iam::222222222222:role/FetchCustomerTarget';
const trust = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

beforeAll(async () => {
  ({ stack, clients: c } = await startTestStack());
  env = { ...c.env };
  await c.iam().send(
    new CreateRoleCommand({
      RoleName: 'FetchPlatformTarget',
      AssumeRolePolicyDocument: trust([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:root' }, Action: 'sts:AssumeRole' }]),
    }),
  );
  await c.iam(c.customer).send(
    new CreateRoleCommand({
      RoleName: 'FetchCustomerTarget',
      AssumeRolePolicyDocument: trust([
        { Effect: 'Allow', Principal: { AWS: PLATFORM_TARGET }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'sts:ExternalId': 'fetch-org' } } },
      ]),
    }),
  );
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const sdkErrorOf = (p: Promise<unknown>) => failure(p).then((f) => ({ name: f.name, status: f.status }));
const ourErrorOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number }; cause?: Error & { $metadata?: { httpStatusCode?: number } } };
    return { error: e, raw: { name: e.cause?.name ?? e.name, status: e.cause?.$metadata?.httpStatusCode ?? e.$metadata?.httpStatusCode } };
  }
  throw new Error('expected the call to fail, it succeeded');
};

describe('DynamoDB GetItem (dynalite)', () => {
  it('reads the item the DocumentClient reads, value for value', async () => {
    const doc = DynamoDBDocumentClient.from(c.dynamo());
    const table = env.TABLE_NAME ?? 'binary-backends-local';
    const item = {
      pk: 'ORG#fetch-test',
      sk: 'BACKENDS',
      version: 7,
      ratio: 1.25,
      active: 'prod',
      flag: false,
      nothing: null,
      tags: new Set(['x', 'y']),
      backends: { prod: { roleName: 'prod', checks: [{ name: 'a', ok: true }, 'b', 3] } },
    };
    await doc.send(new PutCommand({ TableName: table, Item: item }));
    const ours = await fetchItemReader({ env }).getItem(table, { pk: item.pk, sk: item.sk }, true);
    const sdk = (await doc.send(new GetCommand({ TableName: table, Key: { pk: item.pk, sk: item.sk }, ConsistentRead: true }))).Item;
    expect(ours).toEqual(sdk);
    expect(ours).toEqual(item);
    await expect(fetchItemReader({ env }).getItem(table, { pk: 'ORG#nobody', sk: 'BACKENDS' }, false)).resolves.toBeUndefined();
  });

  it('names a missing table as the SDK does', async () => {
    const doc = DynamoDBDocumentClient.from(c.dynamo());
    const sdk = await sdkErrorOf(doc.send(new GetCommand({ TableName: 'no-such-table', Key: { pk: 'a', sk: 'b' } })));
    const ours = await ourErrorOf(fetchItemReader({ env }).getItem('no-such-table', { pk: 'a', sk: 'b' }, true));
    expect(sdk.name).toBe('ResourceNotFoundException');
    expect(ours.raw).toEqual(sdk);
  });
});

describe('STS AssumeRole (local/sts.ts, which checks signatures and trust policies)', () => {
  it('assumes a role with the function credentials; the credentials work', async () => {
    const creds = await fetchAssumeRole({ env })('signer', { roleArn: PLATFORM_TARGET, sessionName: 'fetch-hop1' });
    expect(creds.accessKeyId).toMatch(/^ASIA/);
    expect(creds.expiration!.getTime() - Date.now()).toBeGreaterThan(3500_000);
    const who = await new STSClient({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL_STS, credentials: creds, maxAttempts: 1 }).send(
      new GetCallerIdentityCommand({}),
    );
    expect(who.Arn).toBe('arn:aws:sts::111111111111:assumed-role/FetchPlatformTarget/fetch-hop1');
  });

  it('chains into the customer account with the external ID, signed with the first hop credentials (RoleBroker)', async () => {
    const broker = new RoleBroker({ assumeRole: fetchAssumeRole({ env }), clock: () => new Date() });
    const creds: AwsCredentials = await broker.customerCredentials({
      platformRoleArn: PLATFORM_TARGET,
      customerRoleArn: CUSTOMER_TARGET,
      externalId: 'fetch-org',
      sessionName: 'fetch-chain',
    });
    const who = await new STSClient({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL_STS, credentials: creds, maxAttempts: 1 }).send(
      new GetCallerIdentityCommand({}),
    );
    expect(who.Arn).toBe('arn:aws:sts::222222222222:assumed-role/FetchCustomerTarget/fetch-chain');
    expect(broker.assumeRoleCalls).toBe(2);
  });

  it('reads a refusal (wrong external ID) as AccessDenied, the name the SDK gets, tagged with the hop', async () => {
    const platform = await fetchAssumeRole({ env })('platform', { roleArn: PLATFORM_TARGET, sessionName: 'fetch-deny' });
    const sdk = await sdkErrorOf(
      c.sts(platform).send(new AssumeRoleCommand({ RoleArn: CUSTOMER_TARGET, RoleSessionName: 'fetch-deny', ExternalId: 'wrong-org' })),
    );
    const ours = await ourErrorOf(fetchAssumeRole({ env })('customer', { roleArn: CUSTOMER_TARGET, sessionName: 'fetch-deny', externalId: 'wrong-org' }, platform));
    expect(sdk).toEqual({ name: 'AccessDenied', status: 403 });
    expect(ours.raw).toEqual(sdk);
    expect(ours.error).toBeInstanceOf(AssumeRoleDeniedError);
    expect(ours.error).toMatchObject({ hop: 'customer' });
  });

  it('names a bad signature as the SDK does (the stand-in verifies SigV4)', async () => {
    const bad = { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' };
    const sdk = await sdkErrorOf(
      c.sts({ accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: 'not-the-secret' }).send(new GetCallerIdentityCommand({})),
    );
    const ours = await ourErrorOf(fetchAssumeRole({ env: bad })('signer', { roleArn: PLATFORM_TARGET, sessionName: 'bad' }));
    expect(ours.raw).toEqual(sdk);
    expect(sdk.status).toBe(403);
  });
});

describe('Secrets Manager GetSecretValue (local/secrets-manager.ts)', () => {
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

  it('reads SecretString and SecretBinary as the SDK does, and a CloudFront key through them', async () => {
    const text = await c.secrets().send(new CreateSecretCommand({ Name: 'binary-backends/local/fetch-text', SecretString: pem }));
    const binary = await c.secrets().send(new CreateSecretCommand({ Name: 'binary-backends/local/fetch-binary', SecretBinary: Buffer.from(pem) }));
    const get = fetchGetSecret({ env });
    for (const arn of [text.ARN!, binary.ARN!]) {
      const sdk = await c.secrets().send(new GetSecretValueCommand({ SecretId: arn }));
      const ours = await get({ SecretId: arn });
      expect(ours.SecretString).toBe(sdk.SecretString);
      expect(ours.SecretBinary && Buffer.from(ours.SecretBinary)).toEqual(sdk.SecretBinary && Buffer.from(sdk.SecretBinary));
    }
    const pinned = await get({ SecretId: text.ARN!, VersionId: text.VersionId! });
    expect(pinned.SecretString).toBe(pem);
    expect((await readCloudFrontKey(get, binary.ARN!)).asymmetricKeyType).toBe('ec');
  });

  it('names a missing secret as the SDK does, and cloudfront-keys reads it as CloudFrontKeyError', async () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:binary-backends/local/none-AbCdEf';
    const sdk = await sdkErrorOf(c.secrets().send(new GetSecretValueCommand({ SecretId: arn })));
    const ours = await ourErrorOf(fetchGetSecret({ env })({ SecretId: arn }));
    expect(sdk.name).toBe('ResourceNotFoundException');
    expect(ours.raw).toEqual(sdk);
    await expect(readCloudFrontKey(fetchGetSecret({ env }), arn)).rejects.toBeInstanceOf(CloudFrontKeyError);
  });
});
