/**
 * AWS JSON 1.0 / 1.1 services (Secrets Manager, EventBridge, Step Functions): POST with
 * `X-Amz-Target: <prefix>.<Operation>`, a JSON body, errors as `{"__type": ..., "message": ...}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsError, readBody, send, sendJsonError, sha256Hex, splitUrl, parseRawQuery } from './aws-protocol';
import { authenticate, JSON_AUTH_ERRORS, type Credential, type KeyRegistry } from './identity';

export type JsonOperation = (input: Record<string, unknown>, caller: Credential) => unknown | Promise<unknown>;

export function jsonServiceHandler(
  keys: KeyRegistry,
  opts: {
    targetPrefix: string;
    contentType: string;
    operations: Record<string, JsonOperation>;
    /** Non-AWS routes on the same port (GET only, unauthenticated), like the EventBridge event log. */
    extraRoutes?: Record<string, (req: IncomingMessage, res: ServerResponse) => void>;
  },
) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const { path, rawQuery } = splitUrl(req.url ?? '/');
      const extra = req.method === 'GET' ? opts.extraRoutes?.[path] : undefined;
      if (extra) return extra(req, res);
      const body = await readBody(req);
      const query = parseRawQuery(rawQuery);
      const { credential } = authenticate(keys, req, { rawPath: path, query, bodySha256: sha256Hex(body), s3: false }, JSON_AUTH_ERRORS);
      const target = String(req.headers['x-amz-target'] ?? '');
      const [prefix, operation] = target.split('.');
      const op = prefix === opts.targetPrefix && operation ? opts.operations[operation] : undefined;
      if (!op) throw new AwsError('UnknownOperationException', `Unknown operation ${target}`, 400);
      let input: Record<string, unknown>;
      try {
        input = body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as Record<string, unknown>);
      } catch {
        throw new AwsError('SerializationException', 'Malformed JSON body', 400);
      }
      const output = await op(input, credential);
      send(res, 200, JSON.stringify(output ?? {}), { 'content-type': opts.contentType });
    } catch (err) {
      const e = err instanceof AwsError ? err : new AwsError('InternalFailure', (err as Error).message, 500);
      sendJsonError(res, e, opts.contentType);
    }
  };
}

export function str(input: Record<string, unknown>, name: string, required = true): string {
  const v = input[name];
  if (v === undefined || v === null || v === '') {
    if (required) throw new AwsError('ValidationException', `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`, 400);
    return '';
  }
  if (typeof v !== 'string') throw new AwsError('ValidationException', `${name} must be a string`, 400);
  return v;
}

/** Epoch seconds, as AWS JSON protocols send timestamps. */
export function epoch(d: Date): number {
  return d.getTime() / 1000;
}
