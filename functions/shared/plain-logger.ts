/**
 * A structured logger whose JSON lines are the Powertools Logger's (logger.ts), without loading Powertools:
 * for the signer, whose cold start is budgeted (issue 12.9, docs/signer.md "Cold start"). Importing
 * @aws-lambda-powertools/logger (with its commons, invoke store and a `node:console` Console) was most of
 * what the signer still paid at module init.
 *
 * Same keys, order and values as Powertools 2.x's default formatter: level, message, timestamp, service,
 * cold_start, function_arn, function_memory_size, function_name, function_request_id, sampling_rate,
 * xray_trace_id, tenant_id, then the extra keys; empty ones (undefined, '', null) left out. The same
 * environment: AWS_LAMBDA_LOG_LEVEL (Lambda's advanced logging controls, FATAL = CRITICAL) over
 * POWERTOOLS_LOG_LEVEL over LOG_LEVEL (names in capitals, as Powertools reads them), INFO by default;
 * POWERTOOLS_LOGGER_SAMPLE_RATE (debug sampling), POWERTOOLS_LOGGER_LOG_EVENT, POWERTOOLS_DEV (pretty lines
 * through the global console), TZ (a timestamp with offset). test/unit/plain-logger.test.ts prints the same
 * calls through both loggers and compares the lines, so the format cannot drift.
 *
 * Not carried over (the signer uses none of it): appendKeys / persistent keys, child loggers, log buffering,
 * correlation ids, custom formatters. Extra objects are merged one level deep (Powertools deep-merges, which
 * only differs for keys named `constructor`/`__proto__` inside nested plain objects). One invocation at a time
 * per process: under Lambda's multi-concurrency mode (AWS_LAMBDA_MAX_CONCURRENCY) Powertools keeps the context
 * per invocation, this logger does not; the signer does not run in that mode.
 *
 * Never log credentials, private keys or secret values: log ARNs, names and error names instead.
 */
import type { Context } from 'aws-lambda';

/** Powertools' thresholds (constants.js LogLevelThreshold). */
const LEVELS = { TRACE: 6, DEBUG: 8, INFO: 12, WARN: 16, ERROR: 20, CRITICAL: 24, SILENT: 28 } as const;
type LevelName = keyof typeof LEVELS;
const RESERVED_KEYS = ['level', 'message', 'sampling_rate', 'service', 'timestamp'];

function isLevel(name: unknown): name is LevelName {
  return typeof name === 'string' && Object.hasOwn(LEVELS, name);
}

function levelName(level: number): LevelName {
  return (Object.keys(LEVELS) as LevelName[]).find((k) => LEVELS[k] === level) ?? 'INFO';
}

/** Powertools' getStringFromEnv: trimmed, or the default when unset. */
function envString(env: Record<string, string | undefined>, key: string): string {
  return env[key]?.trim() ?? '';
}

type LogInput = string | ({ message: string } & Record<string, unknown>);
type Extra = Error | string | Record<string, unknown> | null | undefined;

interface LambdaContextData {
  coldStart: boolean;
  invokedFunctionArn?: string;
  memoryLimitInMB?: string;
  functionName?: string;
  awsRequestId?: string;
  tenantId?: string;
}

export interface PlainLoggerOptions {
  serviceName?: string;
  /** The environment read at construction, as Powertools reads process.env. */
  env?: Record<string, string | undefined>;
  /** For tests: where lines go (default: stdout for info and below, stderr for warn and above, as Powertools' Console). */
  write?: (line: string, level: LevelName) => void;
  /** For tests of sampling: a number in [0, 1) (Powertools uses randomInt(0, 100) / 100). */
  random?: () => number;
}

export class PlainLogger {
  readonly #env: Record<string, string | undefined>;
  readonly #service: string;
  readonly #write: ((line: string, level: LevelName) => void) | undefined;
  readonly #random: () => number;
  readonly #alcLevel: LevelName | undefined;
  readonly #devMode: boolean;
  readonly #logEvent: boolean;
  readonly #sampleRate: number = 0;
  readonly #warned = new Set<string>();
  #initialLevel: number = LEVELS.INFO;
  #level: number = LEVELS.INFO;
  #coldStart: boolean;
  #refreshed = 0;
  #context: LambdaContextData | undefined;

  constructor(options: PlainLoggerOptions = {}) {
    const env = options.env ?? process.env;
    this.#env = env;
    this.#write = options.write;
    this.#random = options.random ?? (() => Math.floor(Math.random() * 100) / 100);
    this.#service = options.serviceName || envString(env, 'POWERTOOLS_SERVICE_NAME') || 'service_undefined';
    // Utility.getColdStart: only an on-demand initialization has a cold start.
    this.#coldStart = envString(env, 'AWS_LAMBDA_INITIALIZATION_TYPE') === 'on-demand';
    const dev = envString(env, 'POWERTOOLS_DEV').toLowerCase();
    this.#devMode = ['1', 'y', 'yes', 't', 'true', 'on'].includes(dev);
    const alc = envString(env, 'AWS_LAMBDA_LOG_LEVEL');
    const alcLevel = alc === 'FATAL' ? 'CRITICAL' : alc;
    this.#alcLevel = isLevel(alcLevel) ? alcLevel : undefined;
    // getBooleanFromEnv without extended parsing: anything but true/false throws, as Powertools does at init.
    const logEvent = (env.POWERTOOLS_LOGGER_LOG_EVENT?.trim() ?? 'false').toLowerCase();
    if (logEvent !== 'true' && logEvent !== 'false') throw new Error('Environment variable POWERTOOLS_LOGGER_LOG_EVENT must be a boolean');
    this.#logEvent = logEvent === 'true';
    // setInitialLogLevel: the advanced logging controls win, then POWERTOOLS_LOG_LEVEL, then LOG_LEVEL.
    if (this.#alcLevel) {
      this.#initialLevel = LEVELS[this.#alcLevel];
    } else {
      const fromEnv = envString(env, 'POWERTOOLS_LOG_LEVEL') || envString(env, 'LOG_LEVEL');
      if (isLevel(fromEnv)) this.#initialLevel = LEVELS[fromEnv];
    }
    this.#level = this.#initialLevel;
    // setInitialSampleRate
    const rateText = env.POWERTOOLS_LOGGER_SAMPLE_RATE?.trim() ?? '0';
    const rate = Number(rateText);
    if (Number.isNaN(rate)) throw new TypeError('Environment variable POWERTOOLS_LOGGER_SAMPLE_RATE must be a number');
    if (rate >= 0 && rate <= 1) {
      this.#sampleRate = rate;
      if (this.#sampled() && this.#level > LEVELS.TRACE) {
        this.#setLevel('DEBUG');
        this.debug('Setting log level to DEBUG due to sampling rate');
      }
    }
  }

  /** The current threshold, as Powertools' `logger.level`. */
  get level(): number {
    return this.#level;
  }

  getLevelName(): LevelName {
    return levelName(this.#level);
  }

  trace(input: LogInput, ...extra: Extra[]): void {
    this.#log(LEVELS.TRACE, input, extra);
  }
  debug(input: LogInput, ...extra: Extra[]): void {
    this.#log(LEVELS.DEBUG, input, extra);
  }
  info(input: LogInput, ...extra: Extra[]): void {
    this.#log(LEVELS.INFO, input, extra);
  }
  warn(input: LogInput, ...extra: Extra[]): void {
    this.#log(LEVELS.WARN, input, extra);
  }
  error(input: LogInput, ...extra: Extra[]): void {
    this.#log(LEVELS.ERROR, input, extra);
  }
  critical(input: LogInput, ...extra: Extra[]): void {
    this.#log(LEVELS.CRITICAL, input, extra);
  }

  /** What injectLambdaContext's `before` does: sampling per invocation, the context keys, the event when asked. */
  startInvocation(event: unknown, context: Partial<Context> | undefined): void {
    this.refreshSampleRateCalculation();
    this.addContext(context ?? {});
    if (this.#logEvent) this.info('Lambda invocation event', { event });
  }

  addContext(context: Partial<Context> & { tenantId?: string }): void {
    const coldStart = this.#coldStart;
    this.#coldStart = false;
    this.#context = {
      coldStart,
      invokedFunctionArn: context.invokedFunctionArn,
      memoryLimitInMB: context.memoryLimitInMB,
      functionName: context.functionName,
      awsRequestId: context.awsRequestId,
      tenantId: context.tenantId,
    };
  }

  /** Powertools: the first invocation keeps the sampling decided at init; later ones draw again. */
  refreshSampleRateCalculation(): void {
    if (this.#refreshed === 0) {
      this.#refreshed++;
      return;
    }
    if (this.#sampled() && this.#level > LEVELS.TRACE) {
      this.#setLevel('DEBUG');
      this.debug('Setting log level to DEBUG due to sampling rate');
    } else {
      this.#setLevel(levelName(this.#initialLevel));
    }
  }

  #sampled(): boolean {
    return this.#sampleRate > 0 && this.#random() <= this.#sampleRate;
  }

  /** setLogLevel: under the advanced logging controls the level stays theirs (with Powertools' warning once). */
  #setLevel(name: LevelName): void {
    if (this.#alcLevel) {
      this.#level = LEVELS[this.#alcLevel];
      if (LEVELS[this.#alcLevel] > LEVELS[name]) {
        const message = `Current log level (${name}) does not match AWS Lambda Advanced Logging Controls minimum log level (${this.#alcLevel}). This can lead to data loss, consider adjusting them.`;
        if (!this.#warned.has(message)) {
          this.#warned.add(message);
          this.warn(message);
        }
      }
      return;
    }
    this.#level = LEVELS[name];
  }

  #dropReserved(key: string): boolean {
    if (!RESERVED_KEYS.includes(key)) return false;
    this.warn(`The key "${key}" is a reserved key and will be dropped.`);
    return true;
  }

  #log(level: number, input: LogInput, extra: Extra[]): void {
    if (level < this.#level) return;
    const additional: Record<string, unknown> = {};
    let message: unknown;
    if (typeof input === 'string') {
      message = input;
    } else {
      const { message: m, ...rest } = input;
      message = m;
      for (const [key, value] of Object.entries(rest)) if (!this.#dropReserved(key)) additional[key] = value;
    }
    for (const item of extra) {
      if (item === null || item === undefined) continue;
      if (item instanceof Error) additional.error = item;
      else if (typeof item === 'string') additional.extra = item;
      else for (const [key, value] of Object.entries(item)) if (!this.#dropReserved(key)) additional[key] = value;
    }
    const ctx = this.#context;
    const attributes: Record<string, unknown> = {
      level: levelName(level),
      message,
      timestamp: formatTimestamp(new Date(), this.#env),
      service: this.#service,
      cold_start: ctx?.coldStart,
      function_arn: ctx?.invokedFunctionArn,
      function_memory_size: ctx?.memoryLimitInMB,
      function_name: ctx?.functionName,
      function_request_id: ctx?.awsRequestId,
      sampling_rate: this.#sampleRate,
      xray_trace_id: xrayTraceId(this.#env),
      tenant_id: ctx?.tenantId,
    };
    // LogItem.addAttributes (deepMerge): an undefined extra never hides a base value.
    for (const [key, value] of Object.entries(additional)) {
      if (value !== undefined || attributes[key] === undefined) attributes[key] = value;
    }
    // LogItem.removeEmptyKeys
    for (const key of Object.keys(attributes)) {
      if (attributes[key] === undefined || attributes[key] === '' || attributes[key] === null) delete attributes[key];
    }
    const line = JSON.stringify(attributes, jsonReplacer(this.#devMode), this.#devMode ? 4 : 0);
    const name = levelName(level);
    if (this.#write) this.#write(line, name);
    else if (this.#devMode) {
      // Powertools' dev mode prints through the global console (CRITICAL through console.error, TRACE through console.log).
      if (level >= LEVELS.ERROR) console.error(line);
      else if (level === LEVELS.WARN) console.warn(line);
      else if (level === LEVELS.TRACE) console.log(line);
      else if (level === LEVELS.DEBUG) console.debug(line);
      else console.info(line);
    }
    // Powertools' own Console: warn and above on stderr, the rest on stdout (not the runtime's patched console).
    else (level >= LEVELS.WARN ? process.stderr : process.stdout).write(`${line}\n`);
  }
}

/** Powertools' getXRayTraceIdFromEnv: the Root of the trace header (the invoke store's first, under multi-concurrency). */
function xrayTraceId(env: Record<string, string | undefined>): string | undefined {
  const store = (globalThis as { awslambda?: { InvokeStore?: { getXRayTraceId?: () => string | undefined } } }).awslambda?.InvokeStore;
  const header = store?.getXRayTraceId?.() ?? envString(env, '_X_AMZN_TRACE_ID');
  if (header === '') return undefined;
  if (!header.includes('=')) return header;
  for (const field of header.split(';')) {
    const [key, value] = field.split('=');
    if (key === 'Root') return value;
  }
  return undefined;
}

/** LogFormatter.formatTimestamp: ISO UTC, or local time with its offset when TZ names another zone. */
function formatTimestamp(now: Date, env: Record<string, string | undefined>): string {
  const tz = envString(env, 'TZ');
  if (!tz || tz.includes('UTC')) return now.toISOString();
  let zone = tz;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    zone = 'UTC';
  }
  const parts: Record<string, string> = {};
  const two = '2-digit' as const;
  for (const p of new Intl.DateTimeFormat('en', { hourCycle: 'h23', year: 'numeric', month: two, day: two, hour: two, minute: two, second: two, timeZone: zone }).formatToParts(now)) {
    parts[p.type] = p.value;
  }
  const offset = zone === tz ? -now.getTimezoneOffset() : 0;
  const sign = offset >= 0 ? '+' : '-';
  const hh = Math.abs(Math.floor(offset / 60)).toString().padStart(2, '0');
  const mm = Math.abs(offset % 60).toString().padStart(2, '0');
  const ms = now.getMilliseconds().toString().padStart(3, '0');
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}.${ms}${sign}${hh}:${mm}`;
}

/** LogFormatter.formatError */
function formatError(error: Error, devMode: boolean): Record<string, unknown> {
  const { name, message, stack, cause } = error;
  const formatted: Record<string, unknown> = {
    name,
    location: codeLocation(stack),
    message,
    stack: devMode && typeof stack === 'string' ? stack.split('\n') : stack,
    cause: cause instanceof Error ? formatError(cause, devMode) : cause,
  };
  for (const key in error) {
    if (!['name', 'message', 'stack', 'cause'].includes(key)) formatted[key] = (error as unknown as Record<string, unknown>)[key];
  }
  return formatted;
}

function codeLocation(stack: string | undefined): string {
  if (!stack) return '';
  for (const line of stack.split('\n')) {
    const match = /\(([^()]*?):(\d+?):(\d+?)\)\\?$/.exec(line);
    if (match) return `${match[1]}:${Number(match[2])}`;
  }
  return '';
}

/** Logger.getJsonReplacer: errors formatted, bigints as strings, circular references dropped. */
function jsonReplacer(devMode: boolean) {
  const ancestors: unknown[] = [];
  return function (this: unknown, _key: string, value: unknown) {
    let replaced = value;
    if (replaced instanceof Error) replaced = formatError(replaced, devMode);
    if (typeof replaced === 'bigint') return replaced.toString();
    if (typeof replaced === 'object' && replaced !== null) {
      while (ancestors.length > 0 && ancestors.at(-1) !== this) ancestors.pop();
      if (ancestors.includes(replaced)) return undefined;
      ancestors.push(replaced);
    }
    return replaced;
  };
}

/** The signer's logger (one per container), with the service name logger.ts gives the Powertools one. */
export const logger = new PlainLogger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'binary-backends' });
