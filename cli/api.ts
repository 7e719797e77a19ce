/**
 * The people-facing front door: an API Gateway HTTP API with `AWS_IAM` authorization (deployed, its URL is
 * the stack output `ApiUrl`; locally `.local/aws.env`'s `BINARY_BACKENDS_API_URL`). Requests are SigV4-signed
 * for service `execute-api` with the standard credential chain (the same credentials the CLI's SDK clients
 * use), so the service records the caller AWS verified as the requester, never what the body says.
 *
 * Answers: 2xx → the JSON result. A function's refusal (`{errorType, errorMessage}`, 4xx/5xx) becomes a
 * LambdaFunctionError carrying the name, so the CLI prints its remediation exactly as for a Lambda invoke.
 * API Gateway's own refusals (`{message}`, 403 for a missing, wrong or unauthorized signature) become an
 * error named by `x-amzn-errortype` (AccessDeniedException when absent), which the CLI explains.
 */
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsClients } from './aws';
import { regionOf } from './aws';
import { LambdaFunctionError } from './lambda';

/** An error API Gateway itself answered (the request never reached a function). */
export class FrontDoorError extends Error {
  constructor(
    name: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = name;
  }
}

/**
 * POSTs `payload` to `path` (e.g. `/onboardings`) of the API at `apiUrl`, signed with the credentials of
 * `clients` (static keys from the env map, else the SDK's default chain). Throws LambdaFunctionError for a
 * function's refusal, FrontDoorError for API Gateway's.
 */
export async function postSigned<T>(clients: AwsClients, apiUrl: string, path: string, payload: unknown): Promise<T> {
  const url = new URL(`${apiUrl.replace(/\/+$/, '')}${path}`);
  const body = JSON.stringify(payload);
  const region = regionOf(clients.env) ?? 'us-east-1';
  // The STS client's config holds the resolved credential chain; no STS call is made here.
  const credentials = await clients.sts.config.credentials();
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Hash.bind(null, 'sha256') });
  const request = new HttpRequest({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname,
    headers: { host: url.host, 'content-type': 'application/json' },
    body,
  });
  const signed = await signer.sign(request);
  const response = await fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (response.ok) return parsed as T;
  const b = (parsed && typeof parsed === 'object' ? parsed : {}) as { errorType?: unknown; errorMessage?: unknown; message?: unknown };
  if (typeof b.errorType === 'string') {
    throw new LambdaFunctionError(`POST ${path}`, b.errorType, typeof b.errorMessage === 'string' ? b.errorMessage : '');
  }
  const message = typeof b.message === 'string' ? b.message : typeof parsed === 'string' ? parsed : `HTTP ${response.status}`;
  const name = response.headers.get('x-amzn-errortype')?.split(':')[0] || (response.status === 403 ? 'AccessDeniedException' : 'FrontDoorError');
  throw new FrontDoorError(name, `POST ${path} answered ${response.status}: ${message}`, response.status);
}
