/**
 * Cleanup Lambda: middy glue around `cleanup`, which never throws. The input is not strictly parsed: on
 * the failure path it may be the bare execution input (RecordConfig failed), and Cleanup must still end
 * quietly so the Fail state can carry the original error.
 */
import { sts, stsWith } from '#shared/clients';
import { s3ObjectsClient } from '#shared/s3-objects';
import { CredentialBroker } from '#shared/credential-broker';
import { handlerFor, once } from '#shared/handler';
import { stsIdentityProbe } from '#shared/smoke-probes';
import { cleanup, type CleanupDeps, type CleanupResult } from './cleanup';

export const createHandler = handlerFor<CleanupDeps, CleanupResult>((event, deps) => cleanup(event, deps), () => [stsIdentityProbe(sts())]);

function defaultDeps(): CleanupDeps {
  const clock = () => new Date();
  const broker = new CredentialBroker({ sts, stsWith, clock });
  return { customerCredentials: (chain) => broker.customerCredentials(chain), s3: (region, credentials) => s3ObjectsClient(region, credentials), clock };
}

export const handler = createHandler(once(defaultDeps));
