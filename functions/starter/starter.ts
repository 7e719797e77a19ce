/**
 * The starter: the one entry to onboarding, used by support's CLI (through the IAM-authorized HTTP API,
 * `POST /onboardings`) and by the *Onboarding Requested* EventBridge rule (the request is the event's
 * `detail`), so naming and dedupe are identical for both. `requestedBy` is the verified API caller, or
 * `claimed:<...>` for an event or a direct invoke (shared/requester.ts).
 *
 * 1. Validates the request (ValidationError names each bad field).
 * 2. Creates the backend entry if needed; a name differing only in case from an existing backend is
 *    refused (RoleNameConflictError), because IAM role names ignore case.
 * 3. Looks at the backend's in-flight claim (the last execution a starter started, with a hash of its
 *    request) and its pending config:
 *    - a RUNNING execution of the same request: a double submit, answered with that execution;
 *    - a RUNNING execution of a different request: OnboardingInProgressError naming it;
 *    - a claim whose execution does not exist yet (another starter is between claiming and starting, or
 *      crashed there): the same request re-sends StartExecution with the same name and byte-identical
 *      input, which Step Functions answers idempotently while it runs; a different request is refused
 *      while the claim is fresh;
 *    - otherwise (finished or failed): a new configVersion, so a new execution name (names stay reserved
 *      for 90 days).
 * 4. Allocates the version and records the claim in one conditional write, then StartExecution
 *    `<orgId>-<encodedRoleName>-<configVersion>`.
 */
import { createHash } from 'node:crypto';
import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { IN_PROGRESS_STATUSES, type InflightClaim, type OrgRecord, type RecordStore } from '#shared/records/model';
import { getOrgRecord } from '#shared/records/read-sdk';
import { allocateConfigVersion, ensureBackend } from '#shared/records/pending-writes';
import { OnboardingInProgressError, TransientError, asTransientOr, awsErrorName } from '#shared/errors';
import { executionName } from '#shared/identifiers';
import { stackRulesFor, type InputRulesConfig } from '#shared/config';
import { requestWithCaller } from '#shared/requester';
import { checkClaims } from '#shared/claims';
import { parseOnboardingRequest, type OnboardingRequest } from '#shared/validation';
import { describeExecutionState, executionArnOf } from '#shared/executions';

export interface StarterDeps {
  store: RecordStore;
  sfn: SFNClient;
  clock: () => Date;
  stateMachineArn: string;
  /** How long a claim whose execution does not exist yet still blocks a different request. Default 60. */
  claimStartingGraceSeconds?: number;
  /** Key-secret prefix and loopback flag for the input rules (partition and account come from stateMachineArn). */
  inputRules?: InputRulesConfig;
}

export interface StartResult {
  executionArn: string;
  executionName: string;
  configVersion: number;
  /** True when this answered a double submit with the execution already started for the same request. */
  deduplicated: boolean;
  startedAt: string;
}

/** JSON with object keys sorted, so equal requests give equal strings (hash and execution input). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** sha256 of the normalised request without requestedBy: the same request twice is a double submit. */
export function requestHash(request: Omit<OnboardingRequest, 'requestedBy'>): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

/** Starts (or finds) the onboarding for a request. See the module comment for the errors. */
export async function startOnboarding(event: unknown, deps: StarterDeps): Promise<StartResult> {
  // The requester is the verified API caller, or recorded as claimed (requester.ts); never a body's word.
  const { body, caller } = requestWithCaller(event);
  const { requestedBy: _claimedOrVerified, ...request } = parseOnboardingRequest(
    { ...body, requestedBy: caller.arn },
    stackRulesFor(deps.stateMachineArn, deps.inputRules),
  );
  const requestedBy = caller.arn;
  const { orgId, roleName } = request;
  const hash = requestHash(request);
  const now = deps.clock();
  // Refuse at once a role or bucket + prefix another org serves from or is onboarding (RecordConfig decides for good).
  await checkClaims(deps.store, deps.sfn, { orgId, roleName, roleArn: request.upload.roleArn, bucket: request.upload.bucket, prefix: request.upload.prefix });
  const graceMs = (deps.claimStartingGraceSeconds ?? 60) * 1000;
  const inputFor = (configVersion: number, by: string) => canonicalJson({ ...request, requestedBy: by, configVersion });
  /** Claims whose execution turned out to be closed (or taken by a different input). */
  const finished = new Set<string>();

  let record: OrgRecord = await ensureBackend(deps.store, { orgId, roleName, now });
  for (let round = 0; round < 5; round += 1) {
    const backend = record.backends[roleName]!;
    const claim = backend.inflight;

    if (claim && !finished.has(claim.executionName)) {
      const state = await describeExecutionState(deps.sfn, claim.executionArn);
      if (state.status === 'RUNNING') {
        if (claim.requestHash === hash) return answer(claim, claim.executionArn, state.startDate ?? now, true);
        throw inProgress(orgId, roleName, claim.executionName, claim.executionArn);
      }
      if (state.status === 'NOT_FOUND') {
        if (claim.requestHash === hash) {
          const started = await start(deps, claim.executionName, inputFor(claim.configVersion, claim.requestedBy));
          if (started) return answer(claim, started.executionArn, started.startDate ?? now, true);
        } else if (now.getTime() - Date.parse(claim.at) < graceMs) {
          throw inProgress(orgId, roleName, claim.executionName, claim.executionArn);
        }
      }
      finished.add(claim.executionName);
    }

    // An execution started outside the starter (or before claims existed) may hold the pending config.
    const holder = backend.pending;
    if (holder && IN_PROGRESS_STATUSES.includes(holder.status) && holder.executionArn !== claim?.executionArn) {
      const state = await describeExecutionState(deps.sfn, holder.executionArn);
      if (state.status === 'RUNNING') throw inProgress(orgId, roleName, holder.executionName, holder.executionArn);
    }

    const allocated = await allocateConfigVersion(deps.store, {
      orgId,
      roleName,
      expectedLastConfigVersion: backend.lastConfigVersion,
      now,
      claimFor: (configVersion): InflightClaim => {
        const name = executionName(orgId, roleName, configVersion);
        return {
          executionName: name,
          executionArn: executionArnOf(deps.stateMachineArn, name),
          requestHash: hash,
          requestedBy,
          configVersion,
          at: now.toISOString(),
        };
      },
    });
    if (allocated) {
      const started = await start(deps, allocated.executionName, inputFor(allocated.configVersion, requestedBy));
      if (started) return answer(allocated, started.executionArn, started.startDate ?? now, false);
      // The name was taken by an execution started outside the starter: allocate the next one.
      finished.add(allocated.executionName);
    }
    // Lost the allocation race (or the name): decide again on a fresh read.
    record = (await getOrgRecord(deps.store.ddb, deps.store.tableName, orgId))!;
  }
  throw new TransientError(`Backend ${roleName} of org ${orgId} kept changing while starting an onboarding; retry`);
}

function answer(claim: InflightClaim, executionArn: string, startedAt: Date, deduplicated: boolean): StartResult {
  return {
    executionArn,
    executionName: claim.executionName,
    configVersion: claim.configVersion,
    deduplicated,
    startedAt: new Date(startedAt).toISOString(),
  };
}

function inProgress(orgId: string, roleName: string, name: string, arn: string): OnboardingInProgressError {
  return new OnboardingInProgressError(
    `An onboarding of backend ${roleName} of org ${orgId} with a different request is running: ${name} (${arn}). ` +
      'Wait for it to finish (binary-backends status) or stop it, then retry',
  );
}

/**
 * StartExecution. Undefined on ExecutionAlreadyExists (the name is closed, or its input differs); Step
 * Functions answers a same-name same-input start of a running execution with that execution.
 */
async function start(deps: StarterDeps, name: string, input: string): Promise<{ executionArn: string; startDate?: Date } | undefined> {
  try {
    const out = await deps.sfn.send(new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name, input }));
    return { executionArn: out.executionArn ?? executionArnOf(deps.stateMachineArn, name), startDate: out.startDate };
  } catch (err) {
    if (awsErrorName(err) === 'ExecutionAlreadyExists') return undefined;
    throw asTransientOr(err, 'Step Functions StartExecution');
  }
}
