/**
 * Function configuration from `process.env`, parsed once at start. A missing or malformed variable
 * fails the cold start with a message naming it, instead of surfacing later as an odd AWS error.
 *
 * Deliberately free of zod: every function imports this, and the classic zod build would add ~450 KB to
 * bundles that have a size budget (the signer's is 1 MB).
 */

import type { StackRules } from './rules';

export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/** How one variable is read: its value, or a problem sentence. */
export interface VariableSpec<T> {
  read(raw: string | undefined): { value: T } | { problem: string } | { missing: true };
}

type Shape = Record<string, VariableSpec<unknown>>;
type Parsed<S extends Shape> = { [K in keyof S]: S[K] extends VariableSpec<infer T> ? T : never };

/** Reads every variable of `shape` from `env`; throws ConfigurationError naming every missing or bad one. */
export function loadConfig<S extends Shape>(shape: S, env: Record<string, string | undefined> = process.env): Parsed<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(shape)) {
    const result = spec.read(env[name]);
    if ('missing' in result) problems.push(`${name} is not set`);
    else if ('problem' in result) problems.push(`${name}: ${result.problem}`);
    else out[name] = result.value;
  }
  if (problems.length > 0) throw new ConfigurationError(`Bad function configuration: ${problems.join('; ')}`);
  return out as Parsed<S>;
}

/** Variable specs: required and optional strings, and whole seconds with a default and bounds. */
export const env = {
  string: (fallback?: string): VariableSpec<string> => ({
    read: (raw) =>
      raw === undefined || raw === ''
        ? fallback !== undefined
          ? { value: fallback }
          : raw === undefined
            ? { missing: true }
            : { problem: 'must not be empty' }
        : { value: raw },
  }),
  optionalString: (): VariableSpec<string | undefined> => ({ read: (raw) => ({ value: raw === '' ? undefined : raw }) }),
  seconds: (fallback: number, bounds: { min?: number; max?: number } = {}): VariableSpec<number> => ({
    read: (raw) => {
      if (raw === undefined || raw === '') return { value: fallback };
      const n = Number(raw);
      const min = bounds.min ?? 0;
      const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
      return Number.isInteger(n) && n >= min && n <= max
        ? { value: n }
        : { problem: `must be a whole number of seconds from ${min} to ${max} (got ${JSON.stringify(raw)})` };
    },
  }),
};

/** Variables that tell the input rules what this stack is (see `stackRulesFor`). */
export const inputRulesConfig = {
  /** This stage's CloudFront key-secret name prefix (serverless.yml custom.secretPrefix). */
  KEY_SECRET_PREFIX: env.optionalString(),
  /** "true" only in the local stack: its CloudFront edge is a loopback host:port. */
  ALLOW_LOOPBACK_CLOUDFRONT_HOSTS: env.optionalString(),
};

/** What the input rules need from configuration, beyond the stack's own ARN. */
export interface InputRulesConfig {
  keySecretPrefix?: string;
  allowLoopbackHosts?: boolean;
}

/** Reads `inputRulesConfig` from `env`. */
export function inputRulesFromEnv(e: Record<string, string | undefined> = process.env): InputRulesConfig {
  const c = loadConfig(inputRulesConfig, e);
  return { keySecretPrefix: c.KEY_SECRET_PREFIX, allowLoopbackHosts: c.ALLOW_LOOPBACK_CLOUDFRONT_HOSTS === 'true' };
}

/**
 * The stack rules (rules.ts StackRules) for a request to the stack that owns `stackArn` (its state machine
 * or an execution of it): the partition and platform account come from that ARN, the rest from config.
 */
export function stackRulesFor(stackArn: string, config: InputRulesConfig = {}, platformAccountId?: string): StackRules {
  const [, partition = 'aws', , , account = ''] = stackArn.split(':');
  const accountId = platformAccountId ?? (/^\d{12}$/.test(account) ? account : undefined);
  return {
    partition,
    platformAccountId: accountId,
    keySecret: config.keySecretPrefix !== undefined && accountId ? { accountId, prefix: config.keySecretPrefix } : undefined,
    allowLoopbackHosts: config.allowLoopbackHosts ?? false,
  };
}

/** Variables every function reads. */
export const commonConfig = {
  AWS_REGION: env.string(),
  TABLE_NAME: env.string(),
  EVENT_BUS_NAME: env.string('default'),
};
