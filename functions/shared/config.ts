/**
 * Function configuration from `process.env`, parsed once at start. A missing or malformed variable
 * fails the cold start with a message naming it, instead of surfacing later as an odd AWS error.
 */
import { z } from 'zod';

export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/** Parses `env` with `shape`; throws ConfigurationError naming every missing or bad variable. */
export function loadConfig<S extends z.ZodRawShape>(
  shape: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<z.ZodObject<S>> {
  const result = z.object(shape).safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const name = i.path.join('.');
    return env[name] === undefined ? `${name} is not set` : `${name}: ${i.message}`;
  });
  throw new ConfigurationError(`Bad function configuration: ${problems.join('; ')}`);
}

/** Environment variable helpers: required strings and numbers with defaults. */
export const env = {
  string: () => z.string({ error: 'is required' }).min(1, { error: 'must not be empty' }),
  seconds: (fallback: number) => z.coerce.number().int().min(0).default(fallback),
  optionalString: () => z.string().min(1).optional(),
};

/** Variables every function reads. */
export const commonConfig = {
  AWS_REGION: env.string(),
  TABLE_NAME: env.string(),
  EVENT_BUS_NAME: env.string().default('default'),
};
