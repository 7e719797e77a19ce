/**
 * plain-handler.ts (the signer's glue) behaves as handler.ts's middy chain: the same function runs under both,
 * and the results, the errors and the log lines (timestamps aside) must be the same, for a success, a failure,
 * the smoke event, an undefined event and middy's early timeout.
 */
import type { Context } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ValidationError } from '#shared/errors';
import type { SmokeProbe } from '#shared/smoke';

type Glue = <E, R>(fn: (event: E, context: Context) => Promise<R>, smoke?: () => SmokeProbe[]) => (event: E, context: Context) => Promise<R>;
let middyGlue: Glue;
let plainGlue: Glue;

beforeAll(async () => {
  // The module-level loggers read the environment when imported; the test setup makes them SILENT.
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
  vi.resetModules();
  middyGlue = (await import('#shared/handler')).lambdaHandler as unknown as Glue;
  plainGlue = (await import('#shared/plain-handler')).plainLambdaHandler as unknown as Glue;
  vi.unstubAllEnvs();
});

afterEach(() => {
  vi.useRealTimers();
});

/** The outcome of `run` and every JSON line written meanwhile, without timestamps. */
async function observe(run: () => Promise<unknown>): Promise<{ outcome: unknown; lines: Array<{ stream: string; line: Record<string, unknown> }> }> {
  const lines: Array<{ stream: string; line: Record<string, unknown> }> = [];
  const grab = (stream: string) => (chunk: string | Uint8Array) => {
    for (const text of String(chunk).split('\n').filter(Boolean)) {
      const { timestamp, ...line } = JSON.parse(text) as Record<string, unknown>;
      expect(timestamp).toEqual(expect.any(String));
      lines.push({ stream, line });
    }
    return true;
  };
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(grab('stdout') as typeof process.stdout.write);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(grab('stderr') as typeof process.stderr.write);
  try {
    const outcome = await run().then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    return { outcome, lines };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

const context = {
  functionName: 'binary-backends-test-sign-url',
  awsRequestId: 'req-1',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:binary-backends-test-sign-url',
  memoryLimitInMB: '512',
} as unknown as Context;

/** The same scenario under both glues; returns the plain one's observation after checking it equals middy's. */
async function same(scenario: (glue: Glue) => Promise<unknown>) {
  const viaMiddy = await observe(() => scenario(middyGlue));
  const viaPlain = await observe(() => scenario(plainGlue));
  expect(viaPlain).toEqual(viaMiddy);
  return viaPlain;
}

describe('plainLambdaHandler behaves as the middy chain', () => {
  it('returns the result, with the context keys on the lines logged during the invocation', async () => {
    const seen = await same((glue) =>
      glue(async (event: { n: number }, ctx) => {
        const { logger } = glue === plainGlue ? await import('#shared/plain-logger') : await import('#shared/logger');
        logger.info('Working', { n: event.n, request: ctx.awsRequestId });
        return { doubled: event.n * 2 };
      })({ n: 21 }, context),
    );
    expect(seen.outcome).toEqual({ value: { doubled: 42 } });
    expect(seen.lines).toEqual([
      {
        stream: 'stdout',
        line: expect.objectContaining({ level: 'INFO', message: 'Working', function_name: context.functionName, function_request_id: 'req-1', n: 21 }),
      },
    ]);
  });

  it("logs one 'Invocation failed' line naming the error and rethrows it unchanged", async () => {
    const thrown = new ValidationError('keys: must not be empty');
    const seen = await same((glue) =>
      glue(async () => {
        throw thrown;
      })({ orgId: 'x' }, context),
    );
    expect((seen.outcome as { error: unknown }).error).toBe(thrown);
    expect(seen.lines).toEqual([
      {
        stream: 'stderr',
        line: expect.objectContaining({
          level: 'ERROR',
          message: 'Invocation failed',
          errorName: 'ValidationError',
          errorMessage: 'keys: must not be empty',
          function_request_id: 'req-1',
        }),
      },
    ]);
  });

  it('rethrows a thrown non-Error unchanged too', async () => {
    const seen = await same((glue) =>
      glue(async () => {
        throw 'plain string';
      })({}, context),
    );
    expect(seen.outcome).toEqual({ error: 'plain string' });
  });

  it('runs the smoke probes for {"smoke": true}, not the function', async () => {
    const fn = vi.fn(async () => 'ran');
    const seen = await same((glue) =>
      glue(fn, () => [
        { action: 'dynamodb:GetItem', run: async () => ({}) },
        { action: 'sts:AssumeRole', run: async () => Promise.reject(Object.assign(new Error('denied'), { name: 'AccessDenied' })) },
      ])({ smoke: true }, context),
    );
    expect(fn).not.toHaveBeenCalled();
    expect(seen.outcome).toEqual({
      value: {
        smoke: 'FAIL',
        checks: [
          { action: 'dynamodb:GetItem', result: 'PASS' },
          { action: 'sts:AssumeRole', result: 'FAIL', error: 'AccessDenied', message: 'denied' },
        ],
      },
    });
    expect(seen.lines.map((l) => l.line.message)).toEqual(['Smoke probes']);
  });

  it('gives the function {} for an undefined event, as middy does', async () => {
    const seen = await same((glue) => glue(async (event: unknown) => event)(undefined, context));
    expect(seen.outcome).toEqual({ value: {} });
  });

  it("fails with middy's TimeoutError 5 ms before the Lambda deadline", async () => {
    // 6 ms left: the early timeout fires after 1 ms under both (middy's own timer comes from node:timers, which
    // vitest's fake timers do not replace; the exact moment is checked on the plain glue below).
    const seen = await same((glue) => glue(() => new Promise<never>(() => {}))({ orgId: 'x' }, { ...context, getRemainingTimeInMillis: () => 6 } as Context));
    expect((seen.outcome as { error: Error }).error).toMatchObject({ name: 'TimeoutError', message: '[AbortError]: The operation was aborted.' });
    expect(seen.lines.map((l) => [l.line.message, l.line.errorName])).toEqual([['Invocation failed', 'TimeoutError']]);
  });

  it('times out exactly at the deadline minus 5 ms, not before', async () => {
    vi.useFakeTimers();
    const { outcome } = await observe(async () => {
      const settled = plainGlue(() => new Promise<never>(() => {}))({}, { ...context, getRemainingTimeInMillis: () => 1000 } as Context).then(
        () => 'resolved',
        (e: unknown) => e,
      );
      await vi.advanceTimersByTimeAsync(994);
      const early = await Promise.race([settled, Promise.resolve('pending')]);
      await vi.advanceTimersByTimeAsync(1);
      return { early, late: await settled };
    });
    expect(outcome).toEqual({ value: { early: 'pending', late: expect.objectContaining({ name: 'TimeoutError' }) } });
  });

  it('clears its timer when the function answers first', async () => {
    vi.useFakeTimers();
    const { outcome } = await observe(() => plainGlue(async () => 'done')({}, { ...context, getRemainingTimeInMillis: () => 1000 } as Context));
    expect(outcome).toEqual({ value: 'done' });
    expect(vi.getTimerCount()).toBe(0);
  });
});
