/**
 * A SigV4-signed `fetch` to an AWS service, with the SDK's standard retry: the core of the signer's tiny
 * service clients (dynamodb-fetch.ts, sts-fetch.ts, secrets-fetch.ts) and of any other function that wants
 * one AWS call without bundling an SDK client (@smithy/core and a client cost 100-200 KB of bundle and
 * tens of ms of cold start each; issue 12.9).
 *
 * API (stable; other branches build on it):
 *
 *   awsFetch(request: AwsFetchRequest, options?: AwsFetchOptions): Promise<AwsFetchResponse>
 *     Signs `request` (SigV4 headers, service `signingName`, `region`, `credentials`) and sends it with
 *     fetch to `endpoint` + `path` (+ `query`). Answers with status < 300 resolve to `{status, headers, text}`.
 *     Anything else throws `request.parseError(status, headers, text)` (an AwsServiceError: `name` is the
 *     service's error code, `$metadata.httpStatusCode` the status, as an SDK error; errors.ts `awsErrorName`
 *     and `httpStatus` read it unchanged). Throttling, 500/502/503/504, network errors and timeouts are
 *     retried like the SDK's standard mode (3 attempts in all, "full jitter" backoff: random x 2^n x 100 ms,
 *     500 ms base for throttling, at most 20 s); after the last attempt a network error or timeout becomes
 *     TransientError, a service error is thrown as parsed (asTransientOr makes throttling/5xx transient).
 *     Each attempt is bounded by `timeoutMs` (default 4 s: three attempts and their waits fit the signer's
 *     15 s Lambda timeout, as clients.ts's HTTP_TIMEOUTS do for the SDK clients).
 *     `path` is sent as given (already URI-encoded); it is signed encoded once more for every service but
 *     `s3`, whose canonical path is the path as sent. `x-amz-content-sha256` is always sent and signed (S3
 *     requires it; the SDK sends it to the other services too).
 *   AwsServiceError: `new AwsServiceError(code, message, status, requestId?)`.
 *   jsonError(status, headers, text): parses the JSON 1.0/1.1 protocols' errors (`__type`, `x-amzn-errortype`)
 *     to the code the SDK would name its error after.
 *   configuredEndpoint(envSuffix, env?): `AWS_ENDPOINT_URL_<envSuffix>`, else `AWS_ENDPOINT_URL`, unless
 *     `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` (the SDK's `getEndpointUrlConfig`; Lambda has no shared
 *     config file). Suffixes: the SDK service id upper-cased, spaces as `_`: `S3`, `DYNAMODB`, `STS`,
 *     `SECRETS_MANAGER`.
 *   ruleSetEndpoint(bdd, envSuffix, region, env?, extra?): {url, signingRegion} from a service's own endpoint
 *     rule set evaluated without a client (the engine s3-endpoint.ts uses), `UseFIPS`/`UseDualStack` from `AWS_USE_FIPS_ENDPOINT` /
 *     `AWS_USE_DUALSTACK_ENDPOINT`, `Endpoint` from configuredEndpoint.
 *   envCredentials(env?): the function's own credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *     AWS_SESSION_TOKEN), as the SDK's fromEnv reads them in Lambda. Read per call: Lambda never rotates them
 *     inside a running container, and reading three variables costs nothing.
 *
 * What it does not do (unlike the SDK): no retry token bucket (the signer makes one call per cache miss,
 * and its callers share in-flight calls), no clock-skew correction (Lambda's clock is NTP-synced), no
 * adaptive mode, no response checksum validation (none of these services' calls need one).
 */
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { awsEndpointFunctions } from '@aws-sdk/core/client';
import { customEndpointFunctions, decideEndpoint } from '@smithy/core/endpoints';
import { configuredEndpoint, envBoolean, type Env } from './aws-endpoint-env';
import { backoffMs, retryClassOf, sleepReal, type RetryClass } from './aws-retry';
import { TransientError } from './errors';
import { rfc3986Encode } from './url-signers';

customEndpointFunctions.aws ??= awsEndpointFunctions;


export interface AwsFetchCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** An error an AWS service answered, in the SDK's shape: `name` = the service's error code. */
export class AwsServiceError extends Error {
  readonly $metadata: { httpStatusCode: number; requestId?: string; attempts?: number };
  readonly $fault: 'client' | 'server';
  constructor(code: string, message: string, status: number, requestId?: string) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status, requestId };
    this.$fault = status >= 500 ? 'server' : 'client';
  }
}

export interface AwsFetchRequest {
  /** SigV4 signing name: `dynamodb`, `sts`, `secretsmanager`, `s3`. */
  signingName: string;
  region: string;
  credentials: AwsFetchCredentials;
  /** Base URL from the endpoint rules, e.g. `https://sts.eu-west-1.amazonaws.com` (a path is kept as a prefix). */
  endpoint: string;
  method: string;
  /** Appended to the endpoint's path; already URI-encoded. Default `/`. */
  path?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** A string, or bytes (e.g. an S3 object body); hashed into the signature. */
  body?: string | Uint8Array;
  /** Turns a non-2xx answer into the error the SDK would throw (jsonError, or the protocol's own). */
  parseError: (status: number, headers: Headers, text: string) => Error;
  /** For messages: `DynamoDB GetItem`. */
  operation: string;
}

export interface AwsFetchResponse {
  status: number;
  headers: Headers;
  text: string;
}

export interface AwsFetchOptions {
  /** Default: global fetch. Tests inject a fake. */
  fetch?: typeof fetch;
  /** Waits between attempts. Default: a real timer. Tests inject one that records and returns at once. */
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): the jitter. Default Math.random. */
  random?: () => number;
  /** Per attempt (connect + answer). Default 4000 ms. */
  timeoutMs?: number;
  /** Attempts in all, the first included. Default 3 (the SDK's standard mode). */
  maxAttempts?: number;
}

export const DEFAULT_TIMEOUT_MS = 4_000;
export const DEFAULT_MAX_ATTEMPTS = 3;

const sha256 = Hash.bind(null, 'sha256');
/** One SignatureV4 per (credentials object, service, region): the tiny clients reuse credentials objects. */
const signers = new WeakMap<AwsFetchCredentials, Map<string, SignatureV4>>();

function signerFor(credentials: AwsFetchCredentials, signingName: string, region: string): SignatureV4 {
  let byScope = signers.get(credentials);
  if (!byScope) signers.set(credentials, (byScope = new Map()));
  const scope = `${signingName}|${region}`;
  let signer = byScope.get(scope);
  if (!signer) {
    signer = new SignatureV4({
      service: signingName,
      region,
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken },
      sha256,
      // applyChecksum left on: x-amz-content-sha256 is sent and signed, as the SDK's clients send it.
      // S3 signs the path as sent (encoded once); every other service signs it encoded twice (SigV4).
      uriEscapePath: signingName !== 's3',
    });
    byScope.set(scope, signer);
  }
  return signer;
}

interface Attempt {
  response?: AwsFetchResponse;
  error?: Error;
  /** Retry class: throttling waits longer; undefined = do not retry. */
  retry?: RetryClass;
}

/** See the module comment. */
export async function awsFetch(req: AwsFetchRequest, options: AwsFetchOptions = {}): Promise<AwsFetchResponse> {
  const doFetch = options.fetch ?? fetch;
  const sleep = options.sleep ?? sleepReal;
  const random = options.random ?? Math.random;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  const base = new URL(req.endpoint);
  const basePath = base.pathname.replace(/\/+$/, '');
  const path = `${basePath}${req.path ?? '/'}`;
  const query = req.query ?? {};
  const qs = Object.keys(query)
    .map((k) => `${rfc3986Encode(k)}=${rfc3986Encode(query[k]!)}`)
    .join('&');
  const url = `${base.protocol}//${base.host}${path}${qs ? `?${qs}` : ''}`;
  const signer = signerFor(req.credentials, req.signingName, req.region);

  let last: Attempt = {};
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    // Signed per attempt, as the SDK does: a retry gets a fresh X-Amz-Date.
    const request = new HttpRequest({
      method: req.method,
      protocol: base.protocol,
      hostname: base.hostname,
      port: base.port ? Number(base.port) : undefined,
      path,
      query,
      headers: { ...req.headers, host: base.host },
      body: req.body,
    });
    const signed = await signer.sign(request);
    const headers = { ...(signed.headers as Record<string, string>) };
    delete headers.host; // fetch sends Host from the URL: the same value
    last = await send(doFetch, url, req, headers, timeoutMs);
    if (last.response) return last.response;
    if (!last.retry || attempt === maxAttempts) break;
    await sleep(backoffMs(attempt, last.retry, random));
  }
  throw last.error!;
}

async function send(
  doFetch: typeof fetch,
  url: string,
  req: AwsFetchRequest,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<Attempt> {
  let res: Response;
  let text: string;
  try {
    res = await doFetch(url, { method: req.method, headers, body: req.body, signal: AbortSignal.timeout(timeoutMs) });
    text = await res.text();
  } catch (err) {
    // fetch failed (connection refused/reset, DNS) or the attempt's timeout fired: retryable, like the SDK's
    // NETWORK_ERROR_CODES and TimeoutError. Named TransientError once no attempt is left.
    const e = err as { name?: string; cause?: { code?: string } };
    const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? `timed out after ${timeoutMs} ms` : (e.cause?.code ?? e.name ?? 'fetch failed');
    return { error: new TransientError(`${req.operation}: no answer from ${new URL(url).host} (${why})`, { cause: err }), retry: 'transient' };
  }
  if (res.status < 300) return { response: { status: res.status, headers: res.headers, text } };
  const error = req.parseError(res.status, res.headers, text);
  return { error, retry: retryClassOf(error.name, res.status) };
}

/**
 * The error code the SDK names a JSON 1.0/1.1 error after (its `loadRestJsonErrorCode` + sanitizeErrorCode):
 * the `x-amzn-errortype` header, else the body's `code` / `__type`, cut before `:` and after `#`.
 */
export function jsonErrorCode(headers: Headers, body: Record<string, unknown> | undefined): string | undefined {
  const sanitize = (raw: string) => {
    let code = raw;
    if (code.includes(':')) code = code.split(':')[0]!;
    if (code.includes('#')) code = code.split('#')[1]!;
    return code;
  };
  const header = headers.get('x-amzn-errortype');
  if (header) return sanitize(header);
  for (const k of Object.keys(body ?? {})) {
    if (k.toLowerCase() === 'code' && typeof body![k] === 'string') return sanitize(body![k] as string);
  }
  if (typeof body?.__type === 'string') return sanitize(body.__type);
  return undefined;
}

/** A JSON protocol error answer as an AwsServiceError (`name` = code; `UnknownError` when the body names none). */
export function jsonError(status: number, headers: Headers, text: string): AwsServiceError {
  let body: Record<string, unknown> | undefined;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    body = undefined;
  }
  const code = jsonErrorCode(headers, body) ?? 'UnknownError';
  const message = (body?.message ?? body?.Message ?? code) as string;
  return new AwsServiceError(code, String(message), status, headers.get('x-amzn-requestid') ?? undefined);
}

// envBoolean and configuredEndpoint are shared with s3-endpoint.ts (aws-endpoint-env.ts); part of this module's API.
export { configuredEndpoint, envBoolean, type Env } from './aws-endpoint-env';

/** Where to send a service's requests, and the region to sign them for (the rule set may say another). */
export interface ServiceEndpoint {
  url: string;
  signingRegion: string;
}

/**
 * A service's endpoint from its own rule set (the client package's compiled `dist-es/endpoint/bdd.js`), with
 * `Region`, `UseFIPS`, `UseDualStack` and `Endpoint` filled as the SDK client fills them from the environment;
 * `extra` adds service parameters (e.g. DynamoDB's AccountIdEndpointMode). The signing region is the rule's
 * `authSchemes` one when it names one (STS's global endpoint signs for us-east-1). Throws the rule set's error.
 */
export function ruleSetEndpoint(
  bdd: unknown,
  envSuffix: string,
  region: string,
  env: Env = process.env,
  extra: Record<string, string | boolean | undefined> = {},
): ServiceEndpoint {
  const params: Record<string, string | boolean | undefined> = {
    Region: region,
    UseFIPS: envBoolean(env, 'AWS_USE_FIPS_ENDPOINT') ?? false,
    UseDualStack: envBoolean(env, 'AWS_USE_DUALSTACK_ENDPOINT') ?? false,
    Endpoint: configuredEndpoint(envSuffix, env),
    ...extra,
  };
  for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
  const decided = decideEndpoint(bdd as never, { endpointParams: params as never });
  const schemes = (decided.properties?.authSchemes ?? []) as { signingRegion?: string }[];
  return { url: decided.url.href, signingRegion: schemes[0]?.signingRegion ?? region };
}

let lastEnvCredentials: AwsFetchCredentials | undefined;

/**
 * The function's own credentials from the Lambda environment. Throws when they are missing. The same object
 * comes back while the values are the same, so the SigV4 signer built for it is reused.
 */
export function envCredentials(env: Env = process.env): AwsFetchCredentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error('No AWS credentials in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)');
  }
  const sessionToken = env.AWS_SESSION_TOKEN || undefined;
  const c = lastEnvCredentials;
  if (c && c.accessKeyId === accessKeyId && c.secretAccessKey === secretAccessKey && c.sessionToken === sessionToken) return c;
  return (lastEnvCredentials = { accessKeyId, secretAccessKey, sessionToken });
}
