/**
 * `sign-url` Lambda: glue around the URL signer (sign-url.ts). Not handler.ts's middy chain but its
 * middy-free twin, plain-handler.ts, and the Powertools-format logger plain-logger.ts, for the cold start
 * (issue 12.9, docs/signer.md "Cold start"); same log lines, errors and smoke mode. Internal services invoke it with
 * `{orgId, operation, ...}` (DESIGN "Signing"); errors are thrown by name, so an Invoke caller sees
 * `{errorType: "ValidationError" | "CustomerTrustBrokenError" | ..., errorMessage}`.
 *
 * Never log the response: presigned S3 URLs carry the session token of the credentials that signed them.
 */
import { commonConfig, env, loadConfig } from '#shared/config';
import { RoleBroker } from '#shared/credential-broker';
import { fetchItemReader } from '#shared/dynamodb-fetch';
import { once, plainLambdaHandler } from '#shared/plain-handler';
import { logger } from '#shared/plain-logger';
import { fetchGetSecret } from '#shared/secrets-fetch';
import { SMOKE_KEY, SMOKE_ORG_ID, type SmokeProbe } from '#shared/smoke';
import { fetchAssumeRole } from '#shared/sts-fetch';
import { createUrlSigner, type SignResponse, type SignerDeps, type UrlSigner } from './sign-url';

/** The signer's environment. Throws ConfigurationError naming every missing or bad variable. */
export function loadSignerConfig(processEnv: Record<string, string | undefined> = process.env) {
  return loadConfig(
    {
      ...commonConfig,
      DEFAULT_BUCKET: env.string(),
      DEFAULT_BUCKET_REGION: env.string(),
      DEFAULT_SIGNER_ROLE_ARN: env.string(),
      /** How long an org's route (one GetItem) is reused. */
      CONFIG_CACHE_TTL_SECONDS: env.seconds(30, { min: 0, max: 3600 }),
      /**
       * Credentials with fewer seconds left are refreshed. It must stay well under the 1 h chained-session
       * cap, or every call would refresh; it is also the shortest life a fresh S3 URL can get from clamping.
       */
      CREDENTIAL_REFRESH_THRESHOLD_SECONDS: env.seconds(900, { min: 60, max: 3000 }),
    },
    processEnv,
  );
}

/**
 * The production dependencies, from `process.env`. Endpoints come from AWS_ENDPOINT_URL_* as everywhere.
 * No SDK client: GetItem, AssumeRole and GetSecretValue are SigV4-signed fetches with the SDK's endpoints,
 * retries and error names (aws-fetch.ts and one file per service), which keeps the bundle and the cold
 * start small (issue 12.9, docs/signer.md).
 */
export function signerDepsFromEnv(processEnv: Record<string, string | undefined> = process.env): SignerDeps {
  const config = loadSignerConfig(processEnv);
  const clock = () => new Date();
  const aws = { region: config.AWS_REGION, env: processEnv };
  return {
    items: fetchItemReader(aws),
    tableName: config.TABLE_NAME,
    getSecret: fetchGetSecret(aws),
    broker: new RoleBroker({
      assumeRole: fetchAssumeRole(aws),
      clock,
      refreshThresholdSeconds: config.CREDENTIAL_REFRESH_THRESHOLD_SECONDS,
    }),
    clock,
    settings: {
      defaultBucket: config.DEFAULT_BUCKET,
      defaultBucketRegion: config.DEFAULT_BUCKET_REGION,
      defaultSignerRoleArn: config.DEFAULT_SIGNER_ROLE_ARN,
      configCacheTtlSeconds: config.CONFIG_CACHE_TTL_SECONDS,
    },
  };
}

function summary(event: unknown, out: SignResponse): Record<string, unknown> {
  const e = (event ?? {}) as { orgId?: unknown; operation?: unknown };
  return {
    orgId: e.orgId,
    operation: e.operation,
    storage: out.storage,
    roleName: out.roleName,
    via: out.via,
    urlCount: out.urls.length,
    ttlSeconds: out.ttlSeconds,
    clamped: out.clamped ?? false,
  };
}

/** A handler over the given signer (or dependencies): tests and the local stack inject clients and a clock. */
export function createHandler(deps: SignerDeps | UrlSigner | (() => SignerDeps)) {
  let signer: UrlSigner | undefined =
    typeof deps === 'object' && 'sign' in deps ? deps : typeof deps === 'object' ? createUrlSigner(deps) : undefined;
  const lazyDeps = typeof deps === 'function' ? deps : undefined;
  const signerDeps = typeof deps === 'function' ? once(deps) : 'sign' in deps ? undefined : () => deps;
  return plainLambdaHandler<unknown, SignResponse>(
    async (event) => {
      signer ??= createUrlSigner(lazyDeps!());
      const out = await signer.sign(event);
      logger.info('Signed', summary(event, out));
      return out;
    },
    () => signerSmokeProbes(signerDeps?.(), () => (signer ??= createUrlSigner(lazyDeps!()))),
  );
}

/** The org route (GetItem), the default-storage signer role (AssumeRole), then a real download URL for an org no one has. */
function signerSmokeProbes(deps: SignerDeps | undefined, signer: () => UrlSigner): SmokeProbe[] {
  return [
    ...(deps ? [{ action: 'dynamodb:GetItem', run: () => deps.items.getItem(deps.tableName, SMOKE_KEY, false) }] : []),
    ...(deps
      ? [{ action: 'sts:AssumeRole', run: () => deps.broker.roleCredentials('signer', deps.settings.defaultSignerRoleArn, 'binary-backends-smoke') }]
      : []),
    { action: 'sign-url download (default storage presign)', run: () => signer().sign({ orgId: SMOKE_ORG_ID, operation: 'download', keys: ['smoke-probe'] }) },
  ];
}

/** The deployed handler: configuration is read on the first invocation, then every cache lives with the container. */
export const handler = createHandler(() => signerDepsFromEnv());
