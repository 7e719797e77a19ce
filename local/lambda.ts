/**
 * Lambda stand-in: a registry of the service's functions by name (`binary-backends-local-<suffix>`),
 * each the REAL handler module from functions/, imported on first use, and the Invoke REST API
 * (`POST /2015-03-31/functions/{name}/invocations`). A thrown error answers like Lambda:
 * `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage, trace}`; a handler module that fails
 * to load answers `Runtime.ImportModuleError` the same way.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { AwsError, readBody, send, sha256Hex, splitUrl, parseRawQuery } from './aws-protocol';
import { authenticate, REST_JSON_AUTH_ERRORS, REGION, type KeyRegistry } from './identity';
import { FUNCTIONS as CATALOG, functionName, handlerModule } from '../functions/catalog.cjs';

/**
 * The service's functions, from the function catalog (functions/catalog.cjs, the one list serverless.yml and
 * the IAM roles read too): serverless key, handler module (the `.ts` source of the deployed handler) and name
 * suffix.
 */
export const FUNCTIONS = CATALOG.map((f) => ({ key: f.key, handler: `${handlerModule(f.handler)}.ts`, suffix: f.suffix }));

/** A catalog key (`starter`, `recordConfig`, ...). */
export type FunctionKey = string;
export type Handler = (event: unknown, context: LambdaContext) => Promise<unknown> | unknown;

export interface LambdaContext {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
  done(): void;
  fail(): void;
  succeed(): void;
}

export interface InvocationRecord {
  functionName: string;
  requestId: string;
  startedAt: Date;
  durationMs: number;
  error?: { errorType: string; errorMessage: string };
}

/** A function error as Lambda reports it. */
export class FunctionError extends Error {
  constructor(
    readonly errorType: string,
    readonly errorMessage: string,
    readonly trace: string[] = [],
  ) {
    super(errorMessage);
    this.name = errorType;
  }
}

export class LambdaRegistry {
  private readonly overrides = new Map<string, Handler>();
  private readonly loaded = new Map<string, Promise<Handler>>();
  readonly invocations: InvocationRecord[] = [];
  private readonly listeners = new Set<(r: InvocationRecord) => void>();

  constructor(
    readonly stage: string,
    readonly accountId: string,
    private readonly root: string,
    private readonly timeoutMs = 60_000,
  ) {}

  functionName(key: FunctionKey): string {
    const f = FUNCTIONS.find((x) => x.key === key);
    if (!f) throw new Error(`No function ${key} in functions/catalog.cjs`);
    return functionName(this.stage, f.suffix);
  }

  functionArn(name: string): string {
    return `arn:aws:lambda:${REGION}:${this.accountId}:function:${name}`;
  }

  /** Called after each invocation ends (its record says how); returns an unsubscribe function. */
  subscribe(listener: (r: InvocationRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Registers (or replaces) a function by name: tests and the demo can add their own. */
  register(name: string, handler: Handler): void {
    this.overrides.set(name, handler);
  }

  /** Resolves a name, ARN (optionally qualified) or partial ARN to a known function name. */
  resolve(nameOrArn: string): string | undefined {
    let name = nameOrArn;
    const arn = /^arn:aws:lambda:[a-z0-9-]+:(\d{12}):function:([^:]+)(?::.+)?$/.exec(nameOrArn);
    if (arn) name = arn[2]!;
    const partial = /^(\d{12}):function:([^:]+)$/.exec(nameOrArn);
    if (partial) name = partial[2]!;
    if (this.overrides.has(name)) return name;
    return FUNCTIONS.some((f) => functionName(this.stage, f.suffix) === name) ? name : undefined;
  }

  private load(name: string): Promise<Handler> {
    const override = this.overrides.get(name);
    if (override) return Promise.resolve(override);
    let p = this.loaded.get(name);
    if (!p) {
      const f = FUNCTIONS.find((x) => functionName(this.stage, x.suffix) === name)!;
      const file = path.join(this.root, f.handler);
      p = import(pathToFileURL(file).href).then((m: { handler?: Handler }) => {
        if (typeof m.handler !== 'function') throw new Error(`${f.handler} does not export a handler function`);
        return m.handler;
      });
      p.catch(() => this.loaded.delete(name));
      this.loaded.set(name, p);
    }
    return p;
  }

  /** Runs the function in-process; throws FunctionError like Lambda reports it. */
  async invoke(nameOrArn: string, event: unknown): Promise<unknown> {
    const name = this.resolve(nameOrArn);
    if (!name) {
      throw new AwsError('ResourceNotFoundException', `Function not found: ${this.functionArn(nameOrArn)}`, 404);
    }
    const requestId = randomUUID();
    const startedAt = new Date();
    const record: InvocationRecord = { functionName: name, requestId, startedAt, durationMs: 0 };
    this.invocations.push(record);
    if (this.invocations.length > 5000) this.invocations.shift();
    let handler: Handler;
    try {
      handler = await this.load(name);
    } catch (err) {
      record.error = { errorType: 'Runtime.ImportModuleError', errorMessage: `Error: ${(err as Error).message}` };
      throw new FunctionError(record.error.errorType, record.error.errorMessage);
    }
    const deadline = Date.now() + this.timeoutMs;
    const context: LambdaContext = {
      functionName: name,
      functionVersion: '$LATEST',
      invokedFunctionArn: this.functionArn(name),
      memoryLimitInMB: '1024',
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${name}`,
      logStreamName: `local/${requestId}`,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
    try {
      // Like the Lambda runtime: the event crosses a JSON boundary both ways.
      const result = await handler(JSON.parse(JSON.stringify(event ?? null)), context);
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      record.error = { errorType: e.name || 'Error', errorMessage: e.message };
      throw new FunctionError(record.error.errorType, e.message, (e.stack ?? '').split('\n'));
    } finally {
      record.durationMs = Date.now() - startedAt.getTime();
      for (const l of this.listeners) {
        try {
          l(record);
        } catch {
          // a listener's problem is not the function's
        }
      }
    }
  }
}

export function lambdaHandler(registry: LambdaRegistry, keys: KeyRegistry) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const body = await readBody(req);
      const { path: rawPath, rawQuery } = splitUrl(req.url ?? '/');
      const query = parseRawQuery(rawQuery);
      authenticate(keys, req, { rawPath, query, bodySha256: sha256Hex(body), s3: false }, REST_JSON_AUTH_ERRORS);
      const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/.exec(rawPath);
      if (req.method !== 'POST' || !m) throw new AwsError('ResourceNotFoundException', `No route for ${req.method} ${rawPath}`, 404);
      const name = decodeURIComponent(m[1]!);
      if (!registry.resolve(name)) {
        throw new AwsError('ResourceNotFoundException', `Function not found: ${registry.functionArn(name)}`, 404);
      }
      let event: unknown = {};
      if (body.length > 0) {
        try {
          event = JSON.parse(body.toString('utf8'));
        } catch {
          throw new AwsError('InvalidRequestContentException', 'Could not parse request body into json: Could not parse payload into json', 400);
        }
      }
      if (body.length > 6 * 1024 * 1024) throw new AwsError('RequestTooLargeException', 'Request must be smaller than 6291456 bytes for the InvokeFunction operation', 413);
      const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
      if (type === 'DryRun') return send(res, 204, '', { 'x-amz-executed-version': '$LATEST' });
      if (type === 'Event') {
        void registry.invoke(name, event).catch(() => undefined);
        return send(res, 202, '', {});
      }
      try {
        const result = await registry.invoke(name, event);
        send(res, 200, JSON.stringify(result), { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' });
      } catch (err) {
        if (!(err instanceof FunctionError)) throw err;
        send(res, 200, JSON.stringify({ errorType: err.errorType, errorMessage: err.errorMessage, trace: err.trace }), {
          'content-type': 'application/json',
          'x-amz-executed-version': '$LATEST',
          'x-amz-function-error': 'Unhandled',
        });
      }
    } catch (err) {
      const e = err instanceof AwsError ? err : new AwsError('ServiceException', (err as Error).message, 500);
      send(res, e.status, JSON.stringify({ Type: e.status < 500 ? 'User' : 'Service', message: e.message }), {
        'content-type': 'application/json',
        'x-amzn-errortype': e.code,
      });
    }
  };
}
