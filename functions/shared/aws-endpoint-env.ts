/**
 * How the SDK reads endpoint settings from the environment, for the calls made without an SDK client
 * (aws-fetch.ts, s3-endpoint.ts). Shared config files are not read: Lambda has none.
 */

export type Env = Record<string, string | undefined>;

/** The SDK's boolean environment selector: `true`/`false` (any case), anything else is a configuration error. */
export function envBoolean(env: Env, name: string): boolean | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (v.toLowerCase() === 'true') return true;
  if (v.toLowerCase() === 'false') return false;
  throw new Error(`Cannot load env ${name}. Expected "true" or "false", got ${v}.`);
}

/**
 * `AWS_ENDPOINT_URL_<envSuffix>`, else `AWS_ENDPOINT_URL`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` (the
 * SDK's `getEndpointUrlConfig`), in the form the SDK hands its endpoint rules (its toEndpointV1 +
 * createConfigValueProvider): protocol//hostname[:port]path. Suffixes: the SDK service id upper-cased, spaces
 * as `_`: `S3`, `DYNAMODB`, `STS`, `SECRETS_MANAGER`.
 */
export function configuredEndpoint(envSuffix: string, env: Env = process.env): string | undefined {
  if (envBoolean(env, 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS')) return undefined;
  const raw = env[`AWS_ENDPOINT_URL_${envSuffix}`] || env.AWS_ENDPOINT_URL;
  if (!raw) return undefined;
  const u = new URL(raw);
  return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
}
