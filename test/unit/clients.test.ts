/**
 * Every AWS client gets connection and request timeouts well under the timeout of the Lambda that uses
 * it, so a hung socket becomes a retryable TimeoutError instead of the whole function timing out.
 */
import { describe, expect, it } from 'vitest';
import * as clients from '#shared/clients';
import { AwsClients, CLI_INVOKE_TIMEOUTS } from '../../cli/aws';
import { FUNCTIONS as CATALOG } from '../../functions/catalog.cjs';

/** The `timeout` of each function (the function catalog, which serverless.yml's `functions:` is made from), by function key. */
function functionTimeouts(): Record<string, number> {
  return Object.fromEntries(CATALOG.map((f) => [f.key, f.timeout]));
}

interface ResolvedHandlerConfig {
  connectionTimeout?: number;
  requestTimeout?: number;
  throwOnRequestTimeout?: boolean;
}

/**
 * The options the client's NodeHttpHandler was built with. The handler resolves them into a private
 * `configProvider` promise and exposes them (httpHandlerConfigs) only after its first request.
 */
async function handlerConfig(client: { config: { requestHandler: unknown } }): Promise<ResolvedHandlerConfig> {
  return (client.config.requestHandler as { configProvider: Promise<ResolvedHandlerConfig> }).configProvider;
}

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x'.repeat(40) };

describe('Function: AWS client timeouts (functions/shared/clients.ts)', () => {
  const built = {
    dynamo: clients.dynamo(),
    iam: clients.iam(),
    sts: clients.sts(),
    secretsManager: clients.secretsManager(),
    eventBridge: clients.eventBridge(),
    stepFunctions: clients.stepFunctions(),
    stsWith: clients.stsWith(credentials),
    s3With: clients.s3With('eu-west-1', credentials),
  };

  it.each(Object.entries(built))('gives the %s client a connection and a request timeout that throws', async (_name, client) => {
    await expect(handlerConfig(client)).resolves.toMatchObject({
      connectionTimeout: clients.HTTP_TIMEOUTS.connectionTimeout,
      requestTimeout: clients.HTTP_TIMEOUTS.requestTimeout,
      throwOnRequestTimeout: true,
    });
  });

  it('keeps one attempt (connect + request) within a third of every function\'s Lambda timeout', () => {
    const timeouts = functionTimeouts();
    expect(Object.keys(timeouts).length).toBeGreaterThanOrEqual(10);
    const attemptMs = clients.HTTP_TIMEOUTS.connectionTimeout + clients.HTTP_TIMEOUTS.requestTimeout;
    for (const [fn, seconds] of Object.entries(timeouts)) {
      expect(attemptMs * 3, `${fn} (${seconds} s)`).toBeLessThanOrEqual(seconds * 1000);
    }
  });
});

describe('Function: AWS client timeouts (cli/aws.ts)', () => {
  const aws = new AwsClients({ AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x'.repeat(40) });

  it.each(['dynamo', 'sts', 'iam', 'sfn', 'secrets'] as const)('gives the CLI\'s %s client bounded timeouts', async (name) => {
    const config = await handlerConfig(aws[name]);
    expect(config.connectionTimeout).toBeGreaterThan(0);
    expect(config.connectionTimeout).toBeLessThanOrEqual(5_000);
    expect(config.requestTimeout).toBeGreaterThan(0);
    expect(config.requestTimeout).toBeLessThanOrEqual(30_000);
    expect(config.throwOnRequestTimeout).toBe(true);
  });

  it('gives the CLI\'s S3 client bounded timeouts', async () => {
    await expect(handlerConfig(aws.s3('eu-west-1'))).resolves.toMatchObject({ throwOnRequestTimeout: true, connectionTimeout: expect.any(Number) });
  });

  it('lets a Lambda Invoke outlast the slowest function the CLI invokes, and no longer than a minute', async () => {
    const config = await handlerConfig(aws.lambda);
    const timeouts = functionTimeouts();
    const invoked = ['starter', 'deactivate', 'signUrl'].map((k) => timeouts[k]!);
    expect(config).toMatchObject(CLI_INVOKE_TIMEOUTS);
    expect(config.requestTimeout!).toBeGreaterThan(Math.max(...invoked) * 1000);
    expect(config.requestTimeout!).toBeLessThanOrEqual(60_000);
    expect(config.connectionTimeout).toBeLessThanOrEqual(5_000);
  });
});
