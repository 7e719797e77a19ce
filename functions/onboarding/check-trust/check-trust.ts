/**
 * CheckTrust: is the customer's trust policy in place? Assumes the chain function role -> platform role
 * (hop 1) -> customer role with ExternalId = org ID (hop 2), reading each hop separately.
 *
 * - Hop 1 AccessDenied is our own fault (the platform role's trust or the function role). Within
 *   PLATFORM_ROLE_GRACE_SECONDS of the role becoming ready it is read as IAM propagation ("not yet");
 *   after that, PlatformRoleNotAssumableError.
 * - Hop 2 AccessDenied means the customer has not applied the policy yet: not trusted, wait and retry.
 * - Once hop 2 works, the confused-deputy guard probes hop 2 without an ExternalId and with a wrong one. If
 *   either works, the customer's role does not enforce the external ID: ExternalIdNotEnforcedError.
 * - Not yet: returns the next wait (`trustWaitSeconds`). Past the deadline: TrustPolicyTimeoutError.
 * Every attempt is recorded on the pending config (attempts, lastCheckedAt, lastCheckResult, nextCheckAt),
 * and a `TrustWaitAgeSeconds` metric is logged in CloudWatch embedded metric format.
 */
import { randomUUID } from 'node:crypto';
import type { STSClient } from '@aws-sdk/client-sts';
import type { RecordStore } from '#shared/records/model';
import { writeAuditEvent } from '#shared/records/audit';
import type { StepInput, TrustCheckResult } from '#shared/records/workflow-context';
import { recordTrustAttempt } from '#shared/records/pending-writes';
import { assumeRole, type AwsCredentials } from '#shared/credential-broker';
import {
  AssumeRoleDeniedError,
  ExternalIdNotEnforcedError,
  PlatformRoleNotAssumableError,
  TrustPolicyTimeoutError,
} from '#shared/errors';
import { externalIdFor, roleSessionName } from '#shared/identifiers';
import { trustWaitSeconds } from '#shared/trust-schedule';
import { MetricUnit, emitMetric } from '#shared/metrics';

export interface CheckTrustDeps {
  /** STS signing with the function's own credentials (hop 1). */
  sts: () => STSClient;
  /** STS signing with the platform role's credentials (hop 2 and the probes). */
  stsWith: (credentials: AwsCredentials) => STSClient;
  store: RecordStore;
  clock: () => Date;
  /** Seconds after the platform role became ready during which hop-1 AccessDenied is read as propagation. */
  platformRoleGraceSeconds: number;
  /** Where the EMF metric line goes (#shared/metrics); default: one JSON object per line on stdout. */
  emitMetric?: (line: string) => void;
  /** The wrong-ExternalId probe's value; default a fresh crypto.randomUUID() per check (never a constant). */
  probeExternalId?: () => string;
}

export const METRIC_NAMESPACE = 'BinaryBackends';
export const WAIT_METRIC = 'TrustWaitAgeSeconds';
/**
 * The wrong-ID probe's external ID: a fresh random UUID every check, shaped exactly like an org ID, so a
 * customer trust policy with `StringLike sts:ExternalId "????????-????-…"` (any UUID-shaped ID, i.e. any
 * Peridio org) is caught. A constant not shaped like an org ID let such a policy pass for every org.
 */
export function wrongExternalId(orgId: string, make: () => string = randomUUID): string {
  for (let i = 0; i < 5; i += 1) {
    const id = make().toLowerCase();
    if (id !== orgId.toLowerCase()) return id;
  }
  throw new Error('wrongExternalId: the generator kept returning the org ID');
}

// The polling schedule lives in shared/trust-schedule.ts, where the trust-deadline cap is derived from it.
export { FIRST_WAIT_SECONDS, trustWaitSeconds, waitCapSeconds } from '#shared/trust-schedule';

type HopOutcome = { trusted: true } | { trusted: false; sentence: string };

/** One trust check. Returns the next wait, or throws a named terminal error (see the module comment). */
export async function checkTrust(input: StepInput, deps: CheckTrustDeps): Promise<TrustCheckResult> {
  const now = deps.clock();
  const attempt = (input.trust?.attempt ?? 0) + 1;
  const platformRoleArn = input.platformRole?.roleArn ?? input.platformRoleArn;
  const readyAt = Date.parse(input.platformRole?.trustPolicyReadyAt ?? input.startedAt);
  const deadline = Date.parse(input.trustDeadlineAt);
  const elapsedSeconds = Math.max(0, (now.getTime() - readyAt) / 1000);
  const ref = { orgId: input.orgId, roleName: input.roleName, executionArn: input.executionArn };
  const sessionName = roleSessionName(`check-trust-${input.configVersion}-${attempt}`);

  const outcome = await assumeChain(input, deps, platformRoleArn, sessionName, elapsedSeconds);
  emitWaitMetric(deps, input, elapsedSeconds, outcome.trusted, attempt);

  if (outcome.trusted) {
    const lastCheck = `Trusted: the customer role ${input.upload.roleArn} accepts the platform role with the org's external ID and refuses without it`;
    await recordTrustAttempt(deps.store, ref, { attempts: attempt, checkedAt: now, result: lastCheck, status: 'VERIFYING' });
    await audit(deps, input, attempt, now, { trusted: true, lastCheck });
    return { trusted: true, attempt, waitSeconds: 0, lastCheck };
  }

  const secondsToDeadline = (deadline - now.getTime()) / 1000;
  if (secondsToDeadline <= 0) {
    const lastCheck = `${outcome.sentence}; the trust deadline ${input.trustDeadlineAt} has passed`;
    await recordTrustAttempt(deps.store, ref, { attempts: attempt, checkedAt: now, result: lastCheck, nextCheckAt: undefined });
    await audit(deps, input, attempt, now, { trusted: false, lastCheck, timedOut: true });
    throw new TrustPolicyTimeoutError(
      `The customer role ${input.upload.roleArn} still does not trust ${platformRoleArn} with external ID ${input.orgId} ` +
        `after ${attempt} checks; the deadline ${input.trustDeadlineAt} has passed`,
    );
  }

  const waitSeconds = trustWaitSeconds(elapsedSeconds, attempt, secondsToDeadline);
  const nextCheckAt = new Date(now.getTime() + waitSeconds * 1000).toISOString();
  await recordTrustAttempt(deps.store, ref, { attempts: attempt, checkedAt: now, result: outcome.sentence, nextCheckAt });
  await audit(deps, input, attempt, now, { trusted: false, lastCheck: outcome.sentence, waitSeconds, nextCheckAt });
  return { trusted: false, attempt, waitSeconds, nextCheckAt, lastCheck: outcome.sentence };
}

async function assumeChain(
  input: StepInput,
  deps: CheckTrustDeps,
  platformRoleArn: string,
  sessionName: string,
  elapsedSeconds: number,
): Promise<HopOutcome> {
  let platform: AwsCredentials;
  try {
    platform = await assumeRole(deps.sts(), 'platform', { roleArn: platformRoleArn, sessionName });
  } catch (err) {
    if (!(err instanceof AssumeRoleDeniedError)) throw err;
    if (elapsedSeconds < deps.platformRoleGraceSeconds) {
      return { trusted: false, sentence: `AccessDenied on the platform role ${platformRoleArn} (IAM still propagating)` };
    }
    throw new PlatformRoleNotAssumableError(
      `The service cannot assume its own platform role ${platformRoleArn} ${Math.round(elapsedSeconds)} s after it was ` +
        `created (grace ${deps.platformRoleGraceSeconds} s): check the role's aws:PrincipalArn condition and the function role`,
      { cause: err },
    );
  }

  const hop2 = deps.stsWith(platform);
  const customerRoleArn = input.upload.roleArn;
  try {
    await assumeRole(hop2, 'customer', { roleArn: customerRoleArn, sessionName, externalId: externalIdFor(input.orgId) });
  } catch (err) {
    if (err instanceof AssumeRoleDeniedError) {
      return { trusted: false, sentence: `AccessDenied on the customer role ${customerRoleArn}: trust policy not applied yet` };
    }
    throw err;
  }

  // Confused-deputy guard (IAM guidance): the role must refuse us without the external ID and with a wrong one.
  const probes: Array<{ label: string; externalId?: string }> = [
    { label: 'without an external ID' },
    { label: 'with a wrong external ID', externalId: wrongExternalId(input.orgId, deps.probeExternalId) },
  ];
  const accepted: string[] = [];
  for (const probe of probes) {
    try {
      await assumeRole(hop2, 'customer', { roleArn: customerRoleArn, sessionName, externalId: probe.externalId });
      accepted.push(probe.label);
    } catch (err) {
      if (!(err instanceof AssumeRoleDeniedError)) throw err;
    }
  }
  if (accepted.length > 0) {
    throw new ExternalIdNotEnforcedError(
      `The customer role ${customerRoleArn} can be assumed ${accepted.join(' and ')}: its trust policy must keep ` +
        `the Condition {"StringEquals": {"sts:ExternalId": "${input.orgId}"}} exactly as sent`,
    );
  }
  return { trusted: true };
}

function emitWaitMetric(deps: CheckTrustDeps, input: StepInput, elapsedSeconds: number, trusted: boolean, attempt: number): void {
  emitMetric(
    {
      namespace: METRIC_NAMESPACE,
      name: WAIT_METRIC,
      unit: MetricUnit.Seconds,
      value: Math.round(elapsedSeconds),
      // No dimensions: the TrustWaitAge alarm (deploy/resources/alarms.yml) is on the dimensionless metric.
      dimensions: {},
      metadata: { orgId: input.orgId, roleName: input.roleName, executionName: input.executionName, attempt, trusted },
      at: deps.clock(),
    },
    deps.emitMetric,
  );
}

async function audit(deps: CheckTrustDeps, input: StepInput, attempt: number, now: Date, detail: Record<string, unknown>): Promise<void> {
  await writeAuditEvent(deps.store, {
    orgId: input.orgId,
    executionName: input.executionName,
    step: 'CheckTrust',
    attempt,
    at: now.toISOString(),
    detail,
  });
}
