/**
 * Invoking the service's Lambdas (starter, signer, deactivate) the way internal services do: Lambda
 * Invoke with a JSON payload. A function error comes back as `FunctionError` plus a payload
 * `{errorType, errorMessage, trace}`; it becomes a LambdaFunctionError carrying the name, so the CLI can
 * print the remediation for it.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { remediationFor } from '../functions/public';

export class LambdaFunctionError extends Error {
  constructor(
    readonly functionName: string,
    readonly errorType: string,
    readonly errorMessage: string,
  ) {
    super(`${errorType}: ${errorMessage}`);
    this.name = 'LambdaFunctionError';
  }

  get remediation(): string {
    return remediationFor(this.errorType);
  }
}

/** Invokes `functionName` synchronously and returns its parsed result. Throws LambdaFunctionError. */
export async function invokeJson<T>(lambda: LambdaClient, functionName: string, payload: unknown): Promise<T> {
  const out = await lambda.send(
    new InvokeCommand({
      FunctionName: functionName,
      InvocationType: 'RequestResponse',
      Payload: new TextEncoder().encode(JSON.stringify(payload)),
    }),
  );
  const text = out.Payload ? new TextDecoder().decode(out.Payload) : '';
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  if (out.FunctionError) {
    const b = (body ?? {}) as { errorType?: string; errorMessage?: string };
    throw new LambdaFunctionError(
      functionName,
      b.errorType ?? out.FunctionError,
      b.errorMessage ?? (typeof body === 'string' ? body : JSON.stringify(body)),
    );
  }
  return body as T;
}
