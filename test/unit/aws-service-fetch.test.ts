/**
 * The signer's tiny service clients (dynamodb-fetch.ts, sts-fetch.ts, secrets-fetch.ts) against fake fetches
 * (no aws-sdk-client-mock: there is no SDK client to mock): the wire format they send, how they read the
 * answers, and that errors come out with the names the SDK gives, mapped by the same code as before
 * (credential-broker.ts stsFailure, cloudfront-keys.ts, errors.ts asTransientOr). Their endpoints are compared
 * with the SDK clients' own, in every environment the SDK reads. The same clients run against the local stack's
 * stand-ins in test/integration/aws-service-fetch.test.ts.
 */
import { generateKeyPairSync } from 'node:crypto';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCloudFrontKey } from '#shared/cloudfront-keys';
import { RoleBroker } from '#shared/credential-broker';
import { dynamoEndpoint, fetchItemReader } from '#shared/dynamodb-fetch';
import {
  AssumeRoleDeniedError,
  CloudFrontKeyError,
  StsInvalidClientTokenError,
  StsRegionDisabledError,
  TransientError,
} from '#shared/errors';
import { fetchGetSecret } from '#shared/secrets-fetch';
import { fetchAssumeRole } from '#shared/sts-fetch';

const ENV = { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'ASIAFUNCTION', AWS_SECRET_ACCESS_KEY: 'fsecret', AWS_SESSION_TOKEN: 'ftoken' };
const PLATFORM = 'arn:aws:iam::111111111111:role/binary_backend_org_prod';
const CUSTOMER = 'arn:aws:iam::222222222222:role/PeridioBinaries';

interface Sent {
  url: string;
  headers: Record<string, string>;
  body: string;
}

type Reply = { status: number; body: string; headers?: Record<string, string> };

function fakeFetch(reply: (req: Sent, n: number) => Reply | Error) {
  const sent: Sent[] = [];
  const impl = (async (url: string, init: RequestInit) => {
    const req = { url, headers: init.headers as Record<string, string>, body: String(init.body ?? '') };
    sent.push(req);
    const r = reply(req, sent.length);
    if (r instanceof Error) throw r;
    return new Response(r.body, { status: r.status, headers: r.headers });
  }) as unknown as typeof fetch;
  return { sent, impl };
}

const waits: number[] = [];
const sleep = async (ms: number) => void waits.push(ms);
beforeEach(() => {
  waits.length = 0;
});

/** The access key that signed a request, from its Authorization header. */
const signedBy = (req: Sent) => /Credential=([^/]+)\//.exec(req.headers.authorization!)![1];
const scopeOf = (req: Sent) => /Credential=[^/]+\/\d{8}\/([^,]+)\/aws4_request/.exec(req.headers.authorization!)![1];

// ---------------------------------------------------------------------------------------------
// DynamoDB GetItem
// ---------------------------------------------------------------------------------------------

describe('Function: fetchItemReader', () => {
  it('sends a JSON 1.0 GetItem signed with the function credentials and unmarshalls the item as the DocumentClient does', async () => {
    const f = fakeFetch(() => ({
      status: 200,
      body: JSON.stringify({
        Item: {
          pk: { S: 'ORG#o' },
          version: { N: '3' },
          active: { NULL: true },
          ok: { BOOL: true },
          tags: { SS: ['a', 'b'] },
          backends: { M: { prod: { M: { roleName: { S: 'prod' }, checks: { L: [{ S: 'x' }, { N: '1.5' }] } } } } },
        },
      }),
    }));
    const reader = fetchItemReader({ env: ENV, fetch: f.impl });
    const item = await reader.getItem('records', { pk: 'ORG#o', sk: 'BACKENDS' }, true);
    expect(item).toEqual({ pk: 'ORG#o', version: 3, active: null, ok: true, tags: new Set(['a', 'b']), backends: { prod: { roleName: 'prod', checks: ['x', 1.5] } } });
    const req = f.sent[0]!;
    expect(req.url).toBe('https://dynamodb.eu-west-1.amazonaws.com/');
    expect(req.headers['x-amz-target']).toBe('DynamoDB_20120810.GetItem');
    expect(req.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(req.headers['x-amz-security-token']).toBe('ftoken');
    expect(signedBy(req)).toBe('ASIAFUNCTION');
    expect(scopeOf(req)).toBe('eu-west-1/dynamodb');
    expect(JSON.parse(req.body)).toEqual({ TableName: 'records', Key: { pk: { S: 'ORG#o' }, sk: { S: 'BACKENDS' } }, ConsistentRead: true });
  });

  it('answers undefined when there is no item', async () => {
    const f = fakeFetch(() => ({ status: 200, body: '{}' }));
    await expect(fetchItemReader({ env: ENV, fetch: f.impl }).getItem('t', { pk: 'a', sk: 'b' }, false)).resolves.toBeUndefined();
    expect(JSON.parse(f.sent[0]!.body).ConsistentRead).toBe(false);
  });

  it('throws a missing table as ResourceNotFoundException, once, like the SDK', async () => {
    const f = fakeFetch(() => ({
      status: 400,
      body: '{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}',
    }));
    const err = await fetchItemReader({ env: ENV, fetch: f.impl, sleep }).getItem('t', { pk: 'a', sk: 'b' }, true).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ResourceNotFoundException', message: 'Requested resource not found', $metadata: { httpStatusCode: 400 } });
    expect(f.sent).toHaveLength(1);
  });

  it('retries throttling three times in all, then throws TransientError', async () => {
    const f = fakeFetch(() => ({ status: 400, body: '{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow"}' }));
    const err = await fetchItemReader({ env: ENV, fetch: f.impl, sleep, random: () => 1 }).getItem('t', { pk: 'a', sk: 'b' }, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toBe('DynamoDB GetItem failed transiently: ProvisionedThroughputExceededException: slow');
    expect(f.sent).toHaveLength(3);
    expect(waits).toEqual([500, 1000]);
  });

  it('retries a refused connection, then throws TransientError', async () => {
    const f = fakeFetch(() => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }));
    const err = await fetchItemReader({ env: ENV, fetch: f.impl, sleep }).getItem('t', { pk: 'a', sk: 'b' }, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(f.sent).toHaveLength(3);
  });
});

// ---------------------------------------------------------------------------------------------
// STS AssumeRole
// ---------------------------------------------------------------------------------------------

function assumeRoleXml(id: string, expiration: string): string {
  return (
    '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>' +
    '<AssumedRoleUser><AssumedRoleId>AROA:s</AssumedRoleId><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser>' +
    `<Credentials><AccessKeyId>${id}</AccessKeyId><SecretAccessKey>sec+/ret</SecretAccessKey><SessionToken>tok&amp;en</SessionToken>` +
    `<Expiration>${expiration}</Expiration></Credentials></AssumeRoleResult>` +
    '<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleResponse>'
  );
}

function stsErrorXml(code: string, message: string, type = 'Sender'): string {
  return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-2</RequestId></ErrorResponse>`;
}

describe('Function: fetchAssumeRole', () => {
  const now = new Date('2026-11-30T00:00:00Z');

  it('sends a Query-protocol AssumeRole and reads the credentials from the XML answer', async () => {
    const f = fakeFetch(() => ({ status: 200, body: assumeRoleXml('ASIAPLATFORM', '2026-11-30T01:00:00Z'), headers: { 'content-type': 'text/xml' } }));
    const creds = await fetchAssumeRole({ env: ENV, fetch: f.impl })('platform', { roleArn: PLATFORM, sessionName: 'bb-s' });
    expect(creds).toEqual({ accessKeyId: 'ASIAPLATFORM', secretAccessKey: 'sec+/ret', sessionToken: 'tok&en', expiration: new Date('2026-11-30T01:00:00Z') });
    const req = f.sent[0]!;
    expect(req.url).toBe('https://sts.eu-west-1.amazonaws.com/');
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(req.body))).toEqual({
      Action: 'AssumeRole',
      Version: '2011-06-15',
      RoleArn: PLATFORM,
      RoleSessionName: 'bb-s',
      DurationSeconds: '3600',
    });
    expect(signedBy(req)).toBe('ASIAFUNCTION');
    expect(scopeOf(req)).toBe('eu-west-1/sts');
  });

  it('chains through a RoleBroker: the customer hop carries the external ID and is signed with the platform credentials', async () => {
    const f = fakeFetch((req) =>
      new URLSearchParams(req.body).get('RoleArn') === PLATFORM
        ? { status: 200, body: assumeRoleXml('ASIAPLATFORM', '2026-11-30T01:00:00Z') }
        : { status: 200, body: assumeRoleXml('ASIACUSTOMER', '2026-11-30T01:00:00Z') },
    );
    const broker = new RoleBroker({ assumeRole: fetchAssumeRole({ env: ENV, fetch: f.impl }), clock: () => now });
    const creds = await broker.customerCredentials({ platformRoleArn: PLATFORM, customerRoleArn: CUSTOMER, externalId: 'org', sessionName: 'bb' });
    expect(creds.accessKeyId).toBe('ASIACUSTOMER');
    expect(broker.secondsLeft(creds)).toBe(3600);
    expect(f.sent.map(signedBy)).toEqual(['ASIAFUNCTION', 'ASIAPLATFORM']);
    expect(f.sent[1]!.headers['x-amz-security-token']).toBe('tok&en');
    expect(new URLSearchParams(f.sent[1]!.body).get('ExternalId')).toBe('org');
    // Cached: no further call while the session has more than the threshold left.
    await broker.customerCredentials({ platformRoleArn: PLATFORM, customerRoleArn: CUSTOMER, externalId: 'org', sessionName: 'bb' });
    expect(f.sent).toHaveLength(2);
  });

  it('tags AccessDenied with the hop that refused, without retrying', async () => {
    const f = fakeFetch(() => ({ status: 403, body: stsErrorXml('AccessDenied', 'User: x is not authorized to perform: sts:AssumeRole') }));
    const err = await fetchAssumeRole({ env: ENV, fetch: f.impl, sleep })('customer', { roleArn: CUSTOMER, sessionName: 'bb', externalId: 'org' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssumeRoleDeniedError);
    expect(err).toMatchObject({ name: 'AssumeRoleDeniedError', hop: 'customer' });
    expect((err as Error & { cause: Error }).cause).toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403, requestId: 'r-2' } });
    expect(f.sent).toHaveLength(1);
  });

  it('reads RegionDisabledException as StsRegionDisabledError naming the region', async () => {
    const f = fakeFetch(() => ({ status: 403, body: stsErrorXml('RegionDisabledException', 'STS is not activated in this region for account:222222222222.') }));
    const err = await fetchAssumeRole({ env: ENV, fetch: f.impl })('customer', { roleArn: CUSTOMER, sessionName: 'bb', externalId: 'org' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StsRegionDisabledError);
    expect(err).toMatchObject({ name: 'StsRegionDisabledError', hop: 'customer' });
    expect((err as Error).message).toContain('eu-west-1');
    expect((err as Error).message).toContain(CUSTOMER);
  });

  it('reads InvalidClientTokenId as StsInvalidClientTokenError', async () => {
    const f = fakeFetch(() => ({ status: 403, body: stsErrorXml('InvalidClientTokenId', 'The security token included in the request is invalid.') }));
    const err = await fetchAssumeRole({ env: ENV, fetch: f.impl })('signer', { roleArn: PLATFORM, sessionName: 'bb' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StsInvalidClientTokenError);
    expect(err).toMatchObject({ name: 'StsInvalidClientTokenError', hop: 'signer' });
  });

  it('does not read any other 403 as AccessDenied: the error comes out as STS named it', async () => {
    const f = fakeFetch(() => ({ status: 403, body: stsErrorXml('SomethingElse', 'no') }));
    const err = await fetchAssumeRole({ env: ENV, fetch: f.impl })('signer', { roleArn: PLATFORM, sessionName: 'bb' }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(AssumeRoleDeniedError);
    expect(err).toMatchObject({ name: 'SomethingElse', message: 'no', $metadata: { httpStatusCode: 403 } });
  });

  it('retries throttling and 5xx like the SDK, then throws TransientError', async () => {
    const f = fakeFetch((_req, n) => (n === 1 ? { status: 400, body: stsErrorXml('Throttling', 'Rate exceeded') } : { status: 503, body: stsErrorXml('ServiceUnavailable', 'busy', 'Receiver') }));
    const err = await fetchAssumeRole({ env: ENV, fetch: f.impl, sleep, random: () => 0.5 })('signer', { roleArn: PLATFORM, sessionName: 'bb' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(f.sent).toHaveLength(3);
    expect(waits).toEqual([250, 100]);
    const ok = fakeFetch((_req, n) => (n === 1 ? { status: 400, body: stsErrorXml('Throttling', 'Rate exceeded') } : { status: 200, body: assumeRoleXml('ASIA2', '2026-11-30T01:00:00Z') }));
    await expect(fetchAssumeRole({ env: ENV, fetch: ok.impl, sleep })('signer', { roleArn: PLATFORM, sessionName: 'bb' })).resolves.toMatchObject({ accessKeyId: 'ASIA2' });
  });

  it('refuses an answer without credentials', async () => {
    const f = fakeFetch(() => ({ status: 200, body: '<AssumeRoleResponse><AssumeRoleResult/></AssumeRoleResponse>' }));
    await expect(fetchAssumeRole({ env: ENV, fetch: f.impl })('signer', { roleArn: PLATFORM, sessionName: 'bb' })).rejects.toThrow(
      `STS AssumeRole for ${PLATFORM} answered without complete credentials`,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Secrets Manager GetSecretValue
// ---------------------------------------------------------------------------------------------

describe('Function: fetchGetSecret', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecPem = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const ARN = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:binary-backends/cf-AbCdEf';

  it('sends a JSON 1.1 GetSecretValue (with the pinned version) and reads SecretString', async () => {
    const f = fakeFetch(() => ({ status: 200, body: JSON.stringify({ ARN, Name: 'cf', VersionId: 'v', SecretString: ecPem }) }));
    const key = await readCloudFrontKey(fetchGetSecret({ env: ENV, fetch: f.impl }), ARN, 'v'.repeat(32));
    expect(key.asymmetricKeyType).toBe('ec');
    const req = f.sent[0]!;
    expect(req.url).toBe('https://secretsmanager.eu-west-1.amazonaws.com/');
    expect(req.headers['x-amz-target']).toBe('secretsmanager.GetSecretValue');
    expect(req.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(scopeOf(req)).toBe('eu-west-1/secretsmanager');
    expect(JSON.parse(req.body)).toEqual({ SecretId: ARN, VersionId: 'v'.repeat(32) });
  });

  it('decodes SecretBinary (base64 on the wire) to bytes, as the SDK', async () => {
    const f = fakeFetch(() => ({ status: 200, body: JSON.stringify({ SecretBinary: Buffer.from(ecPem).toString('base64') }) }));
    const out = await fetchGetSecret({ env: ENV, fetch: f.impl })({ SecretId: ARN });
    expect(Buffer.from(out.SecretBinary!).toString('utf8')).toBe(ecPem);
    expect(JSON.parse(f.sent[0]!.body)).toEqual({ SecretId: ARN });
  });

  it('names a missing secret ResourceNotFoundException, which cloudfront-keys reads as CloudFrontKeyError', async () => {
    const f = fakeFetch(() => ({ status: 400, body: '{"__type":"ResourceNotFoundException","Message":"Secrets Manager can\'t find the specified secret."}' }));
    const err = await readCloudFrontKey(fetchGetSecret({ env: ENV, fetch: f.impl }), ARN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudFrontKeyError);
    expect((err as Error).message).toBe(`Cannot read the CloudFront key secret ${ARN}: ResourceNotFoundException`);
  });

  it('names a refusal AccessDeniedException (header x-amzn-errortype), read as CloudFrontKeyError', async () => {
    const f = fakeFetch(() => ({ status: 400, body: '{"Message":"not authorized"}', headers: { 'x-amzn-errortype': 'AccessDeniedException:http://internal.amazon.com/' } }));
    const err = await readCloudFrontKey(fetchGetSecret({ env: ENV, fetch: f.impl }), ARN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudFrontKeyError);
    expect((err as Error).message).toContain('AccessDeniedException');
  });

  it('retries throttling, then TransientError', async () => {
    const f = fakeFetch(() => ({ status: 400, body: '{"__type":"ThrottlingException","Message":"Rate exceeded"}' }));
    const err = await readCloudFrontKey(fetchGetSecret({ env: ENV, fetch: f.impl, sleep }), ARN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(f.sent).toHaveLength(3);
  });
});

// ---------------------------------------------------------------------------------------------
// Endpoints: the same answers as the SDK clients, in every environment
// ---------------------------------------------------------------------------------------------

/** The URL and signing scope an SDK client would send `command` to, captured after signing; nothing is sent. */
async function sdkTarget(client: { middlewareStack: unknown; send: (c: never) => Promise<unknown> }, command: unknown): Promise<{ url: string; scope: string }> {
  (client.middlewareStack as { addRelativeTo: (m: unknown, o: unknown) => void }).addRelativeTo(
    () => async (args: { request: unknown }) => {
      throw Object.assign(new Error('captured'), { captured: args.request });
    },
    { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'captureTarget' },
  );
  const err = (await client.send(command as never).catch((e: unknown) => e)) as { captured?: { protocol: string; hostname: string; port?: number; path: string; headers: Record<string, string> } };
  const r = err.captured;
  if (!r) throw err;
  return {
    url: `${r.protocol}//${r.hostname}${r.port ? `:${r.port}` : ''}${r.path}`,
    scope: /Credential=[^/]+\/\d{8}\/([^,]+)\/aws4_request/.exec(r.headers.authorization!)![1]!,
  };
}

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2', 'il-central-1', 'cn-north-1', 'cn-northwest-1', 'us-gov-west-1', 'us-gov-east-1', 'us-iso-east-1', 'us-isob-east-1', 'eu-isoe-west-1', 'eusc-de-east-1'];
const ENVS: Record<string, Record<string, string>> = {
  plain: {},
  fips: { AWS_USE_FIPS_ENDPOINT: 'true' },
  dualstack: { AWS_USE_DUALSTACK_ENDPOINT: 'true' },
  'fips+dualstack': { AWS_USE_FIPS_ENDPOINT: 'true', AWS_USE_DUALSTACK_ENDPOINT: 'true' },
  'AWS_ENDPOINT_URL': { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' },
  'service endpoints': {
    AWS_ENDPOINT_URL: 'http://127.0.0.1:1',
    AWS_ENDPOINT_URL_DYNAMODB: 'http://localhost:8000/',
    AWS_ENDPOINT_URL_STS: 'https://sts.example.test:8443/prefix',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:4584',
  },
  ignored: { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' },
};
const ENDPOINT_VARS = ['AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_STS', 'AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'AWS_ACCOUNT_ID', 'AWS_ACCOUNT_ID_ENDPOINT_MODE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];

describe('Endpoints: the same as the SDK clients resolve', () => {
  let saved: Record<string, string | undefined>;
  beforeEach(() => {
    saved = Object.fromEntries(ENDPOINT_VARS.map((k) => [k, process.env[k]]));
    for (const k of ENDPOINT_VARS) delete process.env[k];
  });
  afterEach(() => {
    for (const k of ENDPOINT_VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  const credentials = { accessKeyId: 'A', secretAccessKey: 'S' };
  /** Where our client really sends, and the scope it signs for: its one request, captured by a fake fetch. */
  const ours = async (call: (fetchImpl: typeof fetch) => Promise<unknown>, body: string) => {
    const f = fakeFetch(() => ({ status: 200, body }));
    await call(f.impl);
    return { url: f.sent[0]!.url, scope: scopeOf(f.sent[0]!)! };
  };
  const CREDS = { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S' };
  const outcome = async <T,>(f: () => Promise<T> | T) => {
    try {
      return { ok: await f() };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };

  it.each(Object.keys(ENVS))('DynamoDB, STS and Secrets Manager in every region, environment %s', async (name) => {
    Object.assign(process.env, ENVS[name]);
    for (const region of REGIONS) {
      const opts = { region, env: { ...ENVS[name], ...CREDS } };
      const cases = [
        [
          () => ours((f) => fetchItemReader({ ...opts, fetch: f }).getItem('t', { pk: 'a', sk: 'b' }, true), '{}'),
          () => sdkTarget(new DynamoDBClient({ region, credentials }), new GetItemCommand({ TableName: 't', Key: {} })),
        ],
        [
          () => ours((f) => fetchAssumeRole({ ...opts, fetch: f })('signer', { roleArn: PLATFORM, sessionName: 's' }), assumeRoleXml('A', '2026-11-30T01:00:00Z')),
          () => sdkTarget(new STSClient({ region, credentials }), new AssumeRoleCommand({ RoleArn: PLATFORM, RoleSessionName: 's' })),
        ],
        [
          () => ours((f) => fetchGetSecret({ ...opts, fetch: f })({ SecretId: 'x' }), '{}'),
          () => sdkTarget(new SecretsManagerClient({ region, credentials }), new GetSecretValueCommand({ SecretId: 'x' })),
        ],
      ] as const;
      for (const [mine, sdk] of cases) {
        const expected = await outcome(sdk);
        const got = await outcome(mine);
        // Where the SDK cannot resolve (e.g. FIPS + dual-stack in a partition without it), neither can we.
        if ('error' in expected) expect('error' in got, `${region} ${name}: SDK failed with ${expected.error}`).toBe(true);
        else expect(got, `${region} ${name}`).toEqual(expected);
      }
    }
  });

  it('DynamoDB uses the account endpoint when the environment credentials carry AWS_ACCOUNT_ID, as the SDK does', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S', AWS_ACCOUNT_ID: '123456789012' };
    for (const mode of [undefined, 'disabled', 'required']) {
      const withMode = mode ? { ...env, AWS_ACCOUNT_ID_ENDPOINT_MODE: mode } : env;
      Object.assign(process.env, withMode);
      const expected = await sdkTarget(new DynamoDBClient({ region: 'eu-west-1' }), new GetItemCommand({ TableName: 't', Key: {} }));
      const got = await ours((f) => fetchItemReader({ region: 'eu-west-1', env: withMode, fetch: f }).getItem('t', { pk: 'a', sk: 'b' }, true), '{}');
      expect(got, String(mode)).toEqual(expected);
      expect(new URL(dynamoEndpoint('eu-west-1', withMode).url).hostname).toBe(new URL(expected.url).hostname);
    }
  });
});
