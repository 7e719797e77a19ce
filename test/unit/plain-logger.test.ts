/**
 * The signer's logger (plain-logger.ts) prints the Powertools Logger's lines: the same calls go through both,
 * under the same environment and Lambda context, and the JSON lines must have the same keys in the same order
 * with the same values (the timestamp aside, checked for its shape). A Powertools upgrade that changes its
 * format fails here.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PlainLogger } from '#shared/plain-logger';

interface Printed {
  stream: 'stdout' | 'stderr';
  line: Record<string, unknown>;
}

/** Everything written to stdout/stderr while `run` runs, one parsed JSON line each. */
function capture(run: () => void): Printed[] {
  const out: Printed[] = [];
  const grab = (stream: Printed['stream']) => (chunk: string | Uint8Array) => {
    for (const text of String(chunk).split('\n').filter(Boolean)) out.push({ stream, line: JSON.parse(text) as Record<string, unknown> });
    return true;
  };
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(grab('stdout') as typeof process.stdout.write);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(grab('stderr') as typeof process.stderr.write);
  try {
    run();
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return out;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$/;

/** Lines without their timestamps (checked for shape), keeping key order. */
function comparable(printed: Printed[]): Array<{ stream: string; keys: string[]; line: Record<string, unknown> }> {
  return printed.map(({ stream, line }) => {
    expect(line.timestamp).toMatch(ISO);
    const { timestamp: _t, ...rest } = line;
    return { stream, keys: Object.keys(line), line: rest };
  });
}

const context = {
  functionName: 'binary-backends-test-sign-url',
  awsRequestId: 'req-1',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:binary-backends-test-sign-url',
  memoryLimitInMB: '512',
  functionVersion: '$LATEST',
} as unknown as Context;

/** One error for both loggers, so their stacks are the same. */
const failure = new TypeError('bad', { cause: new Error('inner') });

/** Both loggers' methods, loosely typed: Powertools' types refuse the null/undefined extras it accepts at run time. */
interface Log {
  trace(input: unknown, ...extra: unknown[]): void;
  debug(input: unknown, ...extra: unknown[]): void;
  info(input: unknown, ...extra: unknown[]): void;
  warn(input: unknown, ...extra: unknown[]): void;
  error(input: unknown, ...extra: unknown[]): void;
  critical(input: unknown, ...extra: unknown[]): void;
}

/** The calls the signer makes, and the shapes Powertools formats specially. */
function calls(log: Log): void {
  log.info('Signed', { orgId: 'org-1', operation: 'download', storage: 'custom', urlCount: 2, ttlSeconds: 900, clamped: false, via: undefined });
  log.error('Invocation failed', { errorName: 'ValidationError', errorMessage: 'keys: must not be empty' });
  log.info('Smoke probes', { smoke: 'PASS', checks: [{ action: 'dynamodb:GetItem', result: 'PASS' }] });
  log.debug('debug line', { n: 1 });
  log.trace('trace line');
  log.warn('with an error', failure);
  log.info('with a string', 'extra text', null, undefined);
  log.info({ message: 'object input', nested: { a: [1, { b: 'c' }], empty: '' }, nothing: null });
  log.info('empties', { blank: '', none: null, gone: undefined, zero: 0, no: false });
  log.info('big', { big: 12345678901234567890n });
  log.info('reserved', { level: 'nope', service: 'nope', custom: 'kept' });
  log.critical('critical line', { cold_start: 'overridden' });
  log.info('override context', { function_name: 'other', function_request_id: undefined });
}

function bothLoggers(env: Record<string, string | undefined>, invocations = 2) {
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  const lines = (make: () => { before: (event: unknown, ctx: Context) => void; log: Parameters<typeof calls>[0] }) =>
    capture(() => {
      const { before, log } = make();
      for (let i = 0; i < invocations; i++) {
        before({ orgId: 'org-1', operation: 'download' }, { ...context, awsRequestId: `req-${i}` } as Context);
        calls(log);
      }
    });
  const powertools = lines(() => {
    const logger = new Logger({ serviceName: 'binary-backends' });
    const middleware = injectLambdaContext(logger, { resetKeys: true });
    return {
      log: logger,
      before: (event, ctx) => middleware.before!({ event, context: ctx, response: undefined, error: undefined, internal: {} } as never),
    };
  });
  const plain = lines(() => {
    const logger = new PlainLogger({ serviceName: 'binary-backends' });
    return { log: logger, before: (event, ctx) => logger.startInvocation(event, ctx) };
  });
  return { powertools, plain };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('PlainLogger prints the Powertools Logger lines', () => {
  it.each<[string, Record<string, string | undefined>]>([
    ['by default (INFO)', { POWERTOOLS_LOG_LEVEL: undefined }],
    ['with POWERTOOLS_LOG_LEVEL=DEBUG', { POWERTOOLS_LOG_LEVEL: 'DEBUG' }],
    ['with POWERTOOLS_LOG_LEVEL=TRACE', { POWERTOOLS_LOG_LEVEL: 'TRACE' }],
    ['with POWERTOOLS_LOG_LEVEL=ERROR', { POWERTOOLS_LOG_LEVEL: 'ERROR' }],
    ['with POWERTOOLS_LOG_LEVEL=SILENT', { POWERTOOLS_LOG_LEVEL: 'SILENT' }],
    ['with a lower-case level (which Powertools ignores)', { POWERTOOLS_LOG_LEVEL: 'debug' }],
    ['with LOG_LEVEL=WARN', { POWERTOOLS_LOG_LEVEL: undefined, LOG_LEVEL: 'WARN' }],
    ['with AWS_LAMBDA_LOG_LEVEL=ERROR over POWERTOOLS_LOG_LEVEL=DEBUG', { POWERTOOLS_LOG_LEVEL: 'DEBUG', AWS_LAMBDA_LOG_LEVEL: 'ERROR' }],
    ['with AWS_LAMBDA_LOG_LEVEL=DEBUG', { POWERTOOLS_LOG_LEVEL: 'INFO', AWS_LAMBDA_LOG_LEVEL: 'DEBUG' }],
    ['with AWS_LAMBDA_LOG_LEVEL=FATAL', { POWERTOOLS_LOG_LEVEL: undefined, AWS_LAMBDA_LOG_LEVEL: 'FATAL' }],
    ['on an on-demand cold start (cold_start true, then false)', { POWERTOOLS_LOG_LEVEL: 'INFO', AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand' }],
    ['under provisioned concurrency', { POWERTOOLS_LOG_LEVEL: 'INFO', AWS_LAMBDA_INITIALIZATION_TYPE: 'provisioned-concurrency' }],
    ['with an X-Ray trace header', { POWERTOOLS_LOG_LEVEL: 'INFO', _X_AMZN_TRACE_ID: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1' }],
    ['with a bare X-Ray trace id', { POWERTOOLS_LOG_LEVEL: 'INFO', _X_AMZN_TRACE_ID: '1-5759e988-bd862e3fe1be46a994272793' }],
    ['with debug sampling at rate 1', { POWERTOOLS_LOG_LEVEL: 'INFO', POWERTOOLS_LOGGER_SAMPLE_RATE: '1' }],
    ['with sample rate 0 (never sampled)', { POWERTOOLS_LOG_LEVEL: 'INFO', POWERTOOLS_LOGGER_SAMPLE_RATE: '0' }],
    ['with an out-of-range sample rate (ignored)', { POWERTOOLS_LOG_LEVEL: 'INFO', POWERTOOLS_LOGGER_SAMPLE_RATE: '2' }],
    ['with sampling under AWS_LAMBDA_LOG_LEVEL=WARN', { AWS_LAMBDA_LOG_LEVEL: 'WARN', POWERTOOLS_LOGGER_SAMPLE_RATE: '1' }],
    ['with the event logged', { POWERTOOLS_LOG_LEVEL: 'INFO', POWERTOOLS_LOGGER_LOG_EVENT: 'true' }],
    ['with POWERTOOLS_SERVICE_NAME set (the constructor name wins)', { POWERTOOLS_LOG_LEVEL: 'INFO', POWERTOOLS_SERVICE_NAME: 'other' }],
  ])('%s', (_name, env) => {
    const { powertools, plain } = bothLoggers({ AWS_LAMBDA_INITIALIZATION_TYPE: undefined, _X_AMZN_TRACE_ID: undefined, TZ: undefined, ...env });
    expect(comparable(plain)).toEqual(comparable(powertools));
  });

  it('prints the same lines for the signer calls (a check that the comparison sees lines at all)', () => {
    const { powertools, plain } = bothLoggers({ POWERTOOLS_LOG_LEVEL: 'INFO', AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand' }, 1);
    const failed = comparable(plain).find((l) => l.line.message === 'Invocation failed');
    expect(failed).toEqual({
      stream: 'stderr',
      keys: [
        'level',
        'message',
        'timestamp',
        'service',
        'cold_start',
        'function_arn',
        'function_memory_size',
        'function_name',
        'function_request_id',
        'sampling_rate',
        'errorName',
        'errorMessage',
      ],
      line: {
        level: 'ERROR',
        message: 'Invocation failed',
        service: 'binary-backends',
        cold_start: true,
        function_arn: context.invokedFunctionArn,
        function_memory_size: '512',
        function_name: 'binary-backends-test-sign-url',
        function_request_id: 'req-0',
        sampling_rate: 0,
        errorName: 'ValidationError',
        errorMessage: 'keys: must not be empty',
      },
    });
    expect(comparable(powertools)).toContainEqual(failed);
  });

  it('gives the same timestamp shape when TZ names a zone', () => {
    vi.useFakeTimers({ now: Date.parse('2026-12-02T15:00:00.123Z'), toFake: ['Date'] });
    try {
      const { powertools, plain } = bothLoggers({ POWERTOOLS_LOG_LEVEL: 'INFO', TZ: 'Europe/Paris' }, 1);
      expect(plain.map((p) => p.line.timestamp)).toEqual(powertools.map((p) => p.line.timestamp));
      expect(plain.length).toBeGreaterThan(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('fails at construction on a bad POWERTOOLS_LOGGER_LOG_EVENT or sample rate, as Powertools does', () => {
    vi.stubEnv('POWERTOOLS_LOGGER_LOG_EVENT', 'maybe');
    expect(() => new Logger()).toThrow('Environment variable POWERTOOLS_LOGGER_LOG_EVENT must be a boolean');
    expect(() => new PlainLogger()).toThrow('Environment variable POWERTOOLS_LOGGER_LOG_EVENT must be a boolean');
    vi.unstubAllEnvs();
    vi.stubEnv('POWERTOOLS_LOGGER_SAMPLE_RATE', 'half');
    expect(() => new Logger()).toThrow('Environment variable POWERTOOLS_LOGGER_SAMPLE_RATE must be a number');
    expect(() => new PlainLogger()).toThrow('Environment variable POWERTOOLS_LOGGER_SAMPLE_RATE must be a number');
  });
});
