/**
 * Credentials for signing on a route: default storage through the signer role, custom storage through the
 * platform role and the customer role (ExternalId = org ID), both from the broker's cache; the hop failures
 * translated for the caller; and a refusal memory.
 *
 * Refusal memory: a customer role that just refused us (CustomerTrustBrokenError), or an STS that cannot
 * help soon (StsRegionDisabledError, StsInvalidClientTokenError), is remembered per org + chain for the
 * route cache's TTL, so while a customer's trust is broken a burst of requests gets the same error without
 * an AssumeRole each (STS throttles per account). A fixed trust policy is picked up within that TTL. It is a
 * TtlCache that keeps no credentials (the broker does) and only the failures above (negative caching).
 */
import type { AwsCredentials, RoleBroker } from '#shared/credential-broker';
import {
  AssumeRoleDeniedError,
  CustomerTrustBrokenError,
  PlatformRoleNotAssumableError,
  StsInvalidClientTokenError,
  StsRegionDisabledError,
} from '#shared/errors';
import { externalIdFor, roleSessionName } from '#shared/identifiers';
import { TtlCache } from '#shared/ttl-cache';
import type { CustomRoute, Route } from './routing';

/** The refusals remembered, per org + platform role + customer role. */
export type RefusalMemory = TtlCache<AwsCredentials>;

/** A refusal memory that keeps each refusal for `ttlSeconds`. */
export function refusalMemory(clock: () => Date, ttlSeconds: number): RefusalMemory {
  return new TtlCache<AwsCredentials>({
    now: () => clock().getTime(),
    ttlMs: 0,
    negative: {
      ttlMs: ttlSeconds * 1000,
      when: (err) => err instanceof CustomerTrustBrokenError || err instanceof StsRegionDisabledError || err instanceof StsInvalidClientTokenError,
    },
  });
}

export interface CredentialDeps {
  broker: RoleBroker;
  refusals: RefusalMemory;
}

/**
 * Credentials for S3 on this route. Throws CustomerTrustBrokenError (the customer role refused the platform
 * role), PlatformRoleNotAssumableError, StsRegionDisabledError, StsInvalidClientTokenError, TransientError.
 */
export function credentialsFor(deps: CredentialDeps, orgId: string, route: Route): Promise<AwsCredentials> {
  if (route.storage === 'default') {
    return deps.broker.roleCredentials('signer', route.signerRoleArn, roleSessionName('signer-default'));
  }
  return deps.refusals.get(`${orgId}|${route.platformRoleArn}|${route.customerRoleArn}`, () => customerCredentials(deps.broker, orgId, route));
}

async function customerCredentials(broker: RoleBroker, orgId: string, route: CustomRoute): Promise<AwsCredentials> {
  try {
    return await broker.customerCredentials({
      platformRoleArn: route.platformRoleArn,
      customerRoleArn: route.customerRoleArn,
      externalId: externalIdFor(orgId),
      sessionName: roleSessionName(`signer-${orgId}`),
    });
  } catch (err) {
    if (err instanceof AssumeRoleDeniedError && err.hop === 'customer') {
      // The URL would not work, and default storage does not hold this org's binaries: refuse.
      throw new CustomerTrustBrokenError(
        `Org ${orgId}: the customer role ${route.customerRoleArn} of backend "${route.roleName}" no longer lets Peridio's ` +
          `platform role assume it (AccessDenied with ExternalId ${externalIdFor(orgId)}); no URL was signed`,
        { cause: err },
      );
    }
    if (err instanceof AssumeRoleDeniedError && err.hop === 'platform') {
      throw new PlatformRoleNotAssumableError(
        `The signer cannot assume the platform role ${route.platformRoleArn} for org ${orgId}; no URL was signed`,
        { cause: err },
      );
    }
    throw err;
  }
}
