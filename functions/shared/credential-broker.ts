/**
 * Assumed-role credentials with a known expiry, cached until they get close to it.
 *
 * The chain for a custom backend is: function role -> platform role `binary_backend_<org>_<name>`
 * (hop 1) -> customer role with ExternalId = org ID (hop 2). Role chaining caps each session at one
 * hour, and a presigned S3 URL dies with the credentials that signed it, so the expiry must be known:
 * that is why even default storage is signed with an assumed signer role rather than the function's
 * own environment credentials, whose expiry cannot be seen.
 *
 * Concurrent callers for the same chain share one in-flight AssumeRole, so a burst of thousands of
 * URL requests costs one STS call per hop, not one per request.
 *
 * The broker (RoleBroker) takes an "assume role" function (AssumeRoleFn), not a client: sts-fetch.ts
 * `fetchAssumeRole()`, a signed fetch without the SDK (the signer, whose bundle and cold start it keeps
 * small), or `sdkAssumeRole(sts, stsWith)` over the SDK's STSClient. `CredentialBroker` is the same broker
 * built from SDK clients (the workflow's functions); a bundle that never names it carries no STS client.
 * Both paths map failures with `stsFailure`.
 */
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { AssumeRoleDeniedError, StsInvalidClientTokenError, StsRegionDisabledError, asTransientOr, awsErrorName } from './errors';
import { TtlCache } from './ttl-cache';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Which link of the chain an AssumeRole was for: lets callers tell "platform fault" from "customer not ready". */
export type Hop = 'platform' | 'customer' | 'signer';

export interface AssumeRoleRequest {
  roleArn: string;
  sessionName: string;
  externalId?: string;
  /** At most 3600 for chained sessions. */
  durationSeconds?: number;
}

/**
 * One AssumeRole, uncached, signed with `signWith` (hop 2) or else the function's own credentials (hop 1, the
 * signer role). Throws as `assumeRole` below: AssumeRoleDeniedError, StsRegionDisabledError,
 * StsInvalidClientTokenError (tagged with `hop`), TransientError, or the error unchanged.
 */
export type AssumeRoleFn = (hop: Hop, req: AssumeRoleRequest, signWith?: AwsCredentials) => Promise<AwsCredentials>;

/** An AssumeRoleFn over the SDK's STS clients. */
export function sdkAssumeRole(sts: () => STSClient, stsWith: (credentials: AwsCredentials) => STSClient): AssumeRoleFn {
  return (hop, req, signWith) => assumeRole(signWith ? stsWith(signWith) : sts(), hop, req);
}

export interface RoleBrokerDeps {
  /** AssumeRole, with the function's own credentials or the given ones: sts-fetch.ts, or `sdkAssumeRole(sts, stsWith)`. */
  assumeRole: AssumeRoleFn;
  clock: () => Date;
  /** Refresh cached credentials when fewer than this many seconds are left. Default 900. */
  refreshThresholdSeconds?: number;
}

export interface CredentialBrokerDeps extends Omit<RoleBrokerDeps, 'assumeRole'> {
  /** STS client signing with the function's own credentials (hop 1, signer role). */
  sts: () => STSClient;
  /** STS client signing with the given credentials (hop 2). */
  stsWith: (credentials: AwsCredentials) => STSClient;
}

export interface CustomerChain {
  platformRoleArn: string;
  customerRoleArn: string;
  externalId: string;
  sessionName: string;
}

/** Chained role sessions last at most one hour (STS rejects DurationSeconds > 3600 when chaining). */
export const CHAINED_SESSION_SECONDS = 3600;

/**
 * One AssumeRole, uncached. AccessDenied becomes AssumeRoleDeniedError tagged with the hop;
 * RegionDisabledException and InvalidClientTokenId become StsRegionDisabledError and
 * StsInvalidClientTokenError; throttling and 5xx become TransientError; anything else is rethrown.
 */
export async function assumeRole(client: STSClient, hop: Hop, req: AssumeRoleRequest): Promise<AwsCredentials> {
  try {
    const out = await client.send(
      new AssumeRoleCommand({
        RoleArn: req.roleArn,
        RoleSessionName: req.sessionName,
        ExternalId: req.externalId,
        DurationSeconds: req.durationSeconds ?? CHAINED_SESSION_SECONDS,
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.Expiration) throw incompleteCredentials(req.roleArn);
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: new Date(c.Expiration),
    };
  } catch (err) {
    throw stsFailure(err, hop, req, await regionOf(client));
  }
}

/** An AssumeRole answer without complete credentials (a broken stand-in or proxy; STS never sends one). */
export function incompleteCredentials(roleArn: string): Error {
  return new Error(`STS AssumeRole for ${roleArn} answered without complete credentials`);
}

/**
 * Reads an AssumeRole failure. Only `AccessDenied` means "this role does not (yet) trust the caller":
 * STS answers 403 for other things too, and reading every 403 as "not yet" would keep CheckTrust polling
 * for days on a fault no customer can fix.
 * - `RegionDisabledException` (403, modelled in the STS API): STS is off in this region for the account
 *   asked to issue credentials.
 * - `InvalidClientTokenId` (403, a common error): the signing credentials are unknown to STS here.
 * Both are terminal, named errors with their own remediation. Throttling/5xx become TransientError;
 * anything else is rethrown unchanged.
 */
export function stsFailure(err: unknown, hop: Hop, req: Pick<AssumeRoleRequest, 'roleArn' | 'externalId'>, region = 'its region'): unknown {
  const name = awsErrorName(err);
  if (name === 'AccessDenied') {
    return new AssumeRoleDeniedError(
      `AssumeRole denied on the ${hop} role ${req.roleArn}${req.externalId === undefined ? ' (no external ID)' : ''}`,
      hop,
      { cause: err },
    );
  }
  if (name === 'RegionDisabledException') {
    return new StsRegionDisabledError(
      `STS is not activated in ${region} for the account that owns the ${hop} role ${req.roleArn} (RegionDisabledException)`,
      hop,
      { cause: err },
    );
  }
  if (name === 'InvalidClientTokenId') {
    return new StsInvalidClientTokenError(
      `STS in ${region} does not recognise the credentials that signed AssumeRole on the ${hop} role ${req.roleArn} (InvalidClientTokenId)`,
      hop,
      { cause: err },
    );
  }
  return asTransientOr(err, `STS AssumeRole on the ${hop} role`);
}

/** The client's region for messages; never throws (a region provider that fails yields a placeholder). */
async function regionOf(client: STSClient): Promise<string> {
  try {
    const r = client.config?.region;
    return typeof r === 'function' ? await r() : (r ?? 'its region');
  } catch {
    return 'its region';
  }
}

/** Caches credentials per chain until they near expiry (ttl-cache.ts, single flight). See the module comment. */
export class RoleBroker {
  private readonly cache: TtlCache<AwsCredentials>;
  /** AssumeRole calls made, for benchmarks and tests. */
  assumeRoleCalls = 0;

  constructor(private readonly deps: RoleBrokerDeps) {
    const thresholdMs = (deps.refreshThresholdSeconds ?? 900) * 1000;
    this.cache = new TtlCache<AwsCredentials>({
      now: () => deps.clock().getTime(),
      // Served while more than the threshold is left; credentials without a known expiry never go stale.
      freshUntil: (c) => (c.expiration ? c.expiration.getTime() - thresholdMs : Number.POSITIVE_INFINITY),
    });
  }

  /** Seconds of life left in `credentials` at the broker's clock (Infinity when no expiry is known). */
  secondsLeft(credentials: AwsCredentials): number {
    if (!credentials.expiration) return Number.POSITIVE_INFINITY;
    return Math.floor((credentials.expiration.getTime() - this.deps.clock().getTime()) / 1000);
  }

  /** Hop 1 alone, or the signer role: assumed with the function's own credentials. */
  roleCredentials(hop: Hop, roleArn: string, sessionName: string): Promise<AwsCredentials> {
    return this.cache.get(`${hop}|${roleArn}`, () => this.call(hop, { roleArn, sessionName }));
  }

  /** The customer's credentials through the platform role, with ExternalId. */
  customerCredentials(chain: CustomerChain): Promise<AwsCredentials> {
    const key = `customer|${chain.platformRoleArn}|${chain.customerRoleArn}|${chain.externalId}`;
    return this.cache.get(key, async () => {
      const platform = await this.roleCredentials('platform', chain.platformRoleArn, chain.sessionName);
      return this.call(
        'customer',
        { roleArn: chain.customerRoleArn, sessionName: chain.sessionName, externalId: chain.externalId },
        platform,
      );
    });
  }

  /** Forget cached credentials, e.g. after the customer's role answered AccessDenied to a signed request. */
  invalidate(): void {
    this.cache.delete();
  }

  private call(hop: Hop, req: AssumeRoleRequest, signWith?: AwsCredentials): Promise<AwsCredentials> {
    this.assumeRoleCalls += 1;
    return this.deps.assumeRole(hop, req, signWith);
  }
}

/** The broker over the SDK's STS clients. */
export class CredentialBroker extends RoleBroker {
  constructor(deps: CredentialBrokerDeps) {
    super({ assumeRole: sdkAssumeRole(deps.sts, deps.stsWith), clock: deps.clock, refreshThresholdSeconds: deps.refreshThresholdSeconds });
  }
}
