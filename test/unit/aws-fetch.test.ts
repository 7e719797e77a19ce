/**
 * The SigV4 fetch core (aws-fetch.ts): what it sends, how it signs, which answers it retries and how many
 * times, what it throws, and where it sends (compared with the SDK clients' own endpoint resolution).
 */
import { createHmac, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AwsServiceError,
  awsFetch,
  configuredEndpoint,
  envCredentials,
  jsonError,
  type AwsFetchRequest,
} from '#shared/aws-fetch';
import { TransientError, asTransientOr } from '#shared/errors';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'tok+/=' };

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

type Answer = { status: number; body?: string; headers?: Record<string, string> } | Error;

function fakeFetch(answers: Answer[]) {
  const sent: Sent[] = [];
  const impl = (async (url: string, init: RequestInit) => {
    sent.push({ url, method: init.method!, headers: init.headers as Record<string, string>, body: init.body as string | Uint8Array | undefined });
    const a = answers[Math.min(sent.length - 1, answers.length - 1)]!;
    if (a instanceof Error) throw a;
    return new Response(a.body ?? '', { status: a.status, headers: a.headers });
  }) as unknown as typeof fetch;
  return { sent, impl };
}

function request(overrides: Partial<AwsFetchRequest> = {}): AwsFetchRequest {
  return {
    signingName: 'dynamodb',
    region: 'eu-west-1',
    credentials,
    endpoint: 'https://dynamodb.eu-west-1.amazonaws.com',
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' },
    body: '{"TableName":"t"}',
    parseError: jsonError,
    operation: 'DynamoDB GetItem',
    ...overrides,
  };
}

/** SigV4 recomputed from the AWS documentation's algorithm, independently of @smithy/signature-v4. */
function expectedSignature(sent: Sent, region: string, service: string, secret: string): string {
  const url = new URL(sent.url);
  const auth = sent.headers.authorization!;
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)![1]!.split(';');
  const amzDate = sent.headers['x-amz-date']!;
  const all: Record<string, string> = { ...sent.headers, host: url.host };
  const canonicalHeaders = signedHeaders.map((h) => `${h}:${String(all[h]).trim()}\n`).join('');
  const query = [...url.searchParams.entries()]
    .map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)])
    .sort(([a], [b]) => (a! < b! ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonical = [
    sent.method,
    url.pathname,
    query,
    canonicalHeaders,
    signedHeaders.join(';'),
    createHash('sha256').update(sent.body ?? '').digest('hex'),
  ].join('\n');
  const scope = `${amzDate.slice(0, 8)}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${secret}`, amzDate.slice(0, 8)), region), service), 'aws4_request');
  return createHmac('sha256', kSigning).update(toSign).digest('hex');
}

const noSleep = () => {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
};

describe('Function: awsFetch', () => {
  it('sends a SigV4-signed request (signature recomputed independently) with the session token and the payload hash, as the SDK', async () => {
    const f = fakeFetch([{ status: 200, body: '{"Item":{}}' }]);
    const out = await awsFetch(request({ query: { 'a b': 'c/d' }, path: '/x' }), { fetch: f.impl });
    expect(out.status).toBe(200);
    expect(out.text).toBe('{"Item":{}}');
    const sent = f.sent[0]!;
    expect(sent.url).toBe('https://dynamodb.eu-west-1.amazonaws.com/x?a%20b=c%2Fd');
    expect(sent.headers['x-amz-security-token']).toBe('tok+/=');
    expect(sent.headers['x-amz-content-sha256']).toBe(createHash('sha256').update('{"TableName":"t"}').digest('hex'));
    expect(sent.headers.host).toBeUndefined();
    const auth = sent.headers.authorization!;
    expect(auth).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/dynamodb\/aws4_request, SignedHeaders=/);
    expect(auth).toContain('host');
    expect(/Signature=([0-9a-f]{64})/.exec(auth)![1]).toBe(expectedSignature(sent, 'eu-west-1', 'dynamodb', credentials.secretAccessKey));
  });

  it('keeps an endpoint path and port (a local stand-in behind a prefix)', async () => {
    const f = fakeFetch([{ status: 200 }]);
    await awsFetch(request({ endpoint: 'http://127.0.0.1:4566/ddb/' }), { fetch: f.impl });
    expect(f.sent[0]!.url).toBe('http://127.0.0.1:4566/ddb/');
    expect(/Signature=([0-9a-f]{64})/.exec(f.sent[0]!.headers.authorization!)![1]).toBe(
      expectedSignature(f.sent[0]!, 'eu-west-1', 'dynamodb', credentials.secretAccessKey),
    );
  });

  it('signs an S3 path as sent (encoded once) and other services\' paths encoded twice, as SigV4 wants', async () => {
    const f = fakeFetch([{ status: 200 }, { status: 200 }]);
    await awsFetch(request({ signingName: 's3', method: 'GET', body: undefined, path: '/bucket/a%20b/c%2Bd' }), { fetch: f.impl });
    const s3 = f.sent[0]!;
    expect(s3.url).toBe('https://dynamodb.eu-west-1.amazonaws.com/bucket/a%20b/c%2Bd');
    expect(/Signature=([0-9a-f]{64})/.exec(s3.headers.authorization!)![1]).toBe(expectedSignature(s3, 'eu-west-1', 's3', credentials.secretAccessKey));
    await awsFetch(request({ path: '/a%20b' }), { fetch: f.impl });
    const other = f.sent[1]!;
    // The canonical path of a non-S3 service is the sent path encoded once more: '/a%2520b'.
    const doubled = { ...other, url: other.url.replace('/a%20b', '/a%2520b') };
    expect(/Signature=([0-9a-f]{64})/.exec(other.headers.authorization!)![1]).toBe(expectedSignature(doubled, 'eu-west-1', 'dynamodb', credentials.secretAccessKey));
  });

  it('signs a bytes body by its hash (an S3 object upload)', async () => {
    const f = fakeFetch([{ status: 200 }]);
    const bytes = new Uint8Array([0, 1, 2, 255]);
    await awsFetch(request({ signingName: 's3', method: 'PUT', path: '/b/k', body: bytes }), { fetch: f.impl });
    const sent = f.sent[0]!;
    expect(sent.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(/Signature=([0-9a-f]{64})/.exec(sent.headers.authorization!)![1]).toBe(
      expectedSignature({ ...sent, body: sent.body }, 'eu-west-1', 's3', credentials.secretAccessKey),
    );
  });

  it('throws the parsed service error with its code as name and the status, without retrying a client error', async () => {
    const f = fakeFetch([
      { status: 400, body: '{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}', headers: { 'x-amzn-requestid': 'R1' } },
    ]);
    const s = noSleep();
    const err = await awsFetch(request(), { fetch: f.impl, sleep: s.sleep }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AwsServiceError);
    expect((err as Error).name).toBe('ResourceNotFoundException');
    expect((err as Error).message).toBe('Requested resource not found');
    expect((err as AwsServiceError).$metadata).toMatchObject({ httpStatusCode: 400, requestId: 'R1' });
    expect(f.sent).toHaveLength(1);
    expect(s.waits).toEqual([]);
  });

  it('retries throttling with the 500 ms jittered base, then succeeds', async () => {
    const f = fakeFetch([
      { status: 400, body: '{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}' },
      { status: 400, body: '{"__type":"ProvisionedThroughputExceededException"}' },
      { status: 200, body: '{}' },
    ]);
    const s = noSleep();
    const out = await awsFetch(request(), { fetch: f.impl, sleep: s.sleep, random: () => 0.5 });
    expect(out.status).toBe(200);
    expect(f.sent).toHaveLength(3);
    expect(s.waits).toEqual([250, 500]);
    // Each attempt is signed afresh (the SDK re-signs retries).
    expect(f.sent[2]!.headers.authorization).toMatch(/Signature=/);
  });

  it('gives up after 3 attempts on 5xx, with the 100 ms base, and the last error reads as transient', async () => {
    const f = fakeFetch([{ status: 503, body: '{"__type":"ServiceUnavailable","message":"busy"}' }]);
    const s = noSleep();
    const err = await awsFetch(request(), { fetch: f.impl, sleep: s.sleep, random: () => 0.99 }).catch((e: unknown) => e);
    expect(f.sent).toHaveLength(3);
    expect(s.waits).toEqual([99, 198]);
    expect((err as Error).name).toBe('ServiceUnavailable');
    expect(asTransientOr(err)).toBeInstanceOf(TransientError);
  });

  it('retries a 500 with a body naming no code as UnknownError', async () => {
    const f = fakeFetch([{ status: 500, body: 'oops' }, { status: 200 }]);
    const s = noSleep();
    await awsFetch(request(), { fetch: f.impl, sleep: s.sleep, random: () => 0 });
    expect(f.sent).toHaveLength(2);
    expect(s.waits).toEqual([0]);
  });

  it('retries network failures and timeouts, then throws TransientError naming the cause', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
    const f = fakeFetch([refused]);
    const s = noSleep();
    const err = await awsFetch(request(), { fetch: f.impl, sleep: s.sleep }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toBe('DynamoDB GetItem: no answer from dynamodb.eu-west-1.amazonaws.com (ECONNREFUSED)');
    expect(f.sent).toHaveLength(3);

    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    const g = fakeFetch([timeout, { status: 200 }]);
    await awsFetch(request(), { fetch: g.impl, sleep: s.sleep });
    expect(g.sent).toHaveLength(2);
  });

  it('bounds each attempt with the timeout (a server that never answers)', async () => {
    const hanging = (async (_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)))) as unknown as typeof fetch;
    const err = await awsFetch(request(), { fetch: hanging, timeoutMs: 20, maxAttempts: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain('timed out after 20 ms');
  });
});

describe('Function: jsonError', () => {
  it('names the error as the SDK does: x-amzn-errortype first, then code/__type, cut at ":" and "#"', () => {
    expect(jsonError(400, new Headers({ 'x-amzn-errortype': 'AccessDeniedException:http://internal' }), '{}').name).toBe('AccessDeniedException');
    expect(jsonError(400, new Headers(), '{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","Message":"gone"}')).toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'gone',
    });
    expect(jsonError(400, new Headers(), '{"code":"ValidationException"}').name).toBe('ValidationException');
    expect(jsonError(502, new Headers(), '<html>').name).toBe('UnknownError');
  });
});

describe('Function: configuredEndpoint / envCredentials', () => {
  it('reads the service variable, then AWS_ENDPOINT_URL, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', () => {
    expect(configuredEndpoint('STS', { AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:1/', AWS_ENDPOINT_URL: 'http://x:2' })).toBe('http://127.0.0.1:1/');
    expect(configuredEndpoint('STS', { AWS_ENDPOINT_URL: 'http://x:2' })).toBe('http://x:2/');
    expect(configuredEndpoint('STS', { AWS_ENDPOINT_URL: 'http://x:2', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toBeUndefined();
    expect(configuredEndpoint('SECRETS_MANAGER', {})).toBeUndefined();
    expect(() => configuredEndpoint('STS', { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'yes' })).toThrow(
      'Cannot load env AWS_IGNORE_CONFIGURED_ENDPOINT_URLS. Expected "true" or "false", got yes.',
    );
  });

  it('reads the Lambda credentials and hands back the same object while they are unchanged', () => {
    const env = { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S', AWS_SESSION_TOKEN: 'T' };
    const a = envCredentials(env);
    expect(a).toEqual({ accessKeyId: 'A', secretAccessKey: 'S', sessionToken: 'T' });
    expect(envCredentials({ ...env })).toBe(a);
    expect(envCredentials({ ...env, AWS_SESSION_TOKEN: 'U' })).not.toBe(a);
    expect(() => envCredentials({})).toThrow('No AWS credentials in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)');
  });
});

