/**
 * `binary-backends onboard`: validate locally, store the CloudFront key, go through the starter (the
 * same one the *Onboarding Requested* event reaches) via the IAM-authorized API (cli/api.ts), then print the trust policy for the customer as
 * soon as the workflow renders it, and with --follow watch the workflow until it ends.
 *
 * The command only: its flags are parsed and validated in onboard-flags.ts, the --follow progress is the
 * follow view (cli/follow-view.ts).
 */
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { OnboardingRequest } from '../../functions/public';
import { AwsClients, VARS, requireEnv } from '../aws';
import { describeExecution } from '../executions';
import { EXIT, paintStatus, styleFor, writeJson, type CliIo, type ExitCode } from '../io';
import { postSigned } from '../api';
import { follow } from '../follow-view';
import { requestFromFlags, type OnboardFlags } from './onboard-flags';
import { loadPrivateKeyFile, secretNameFor, storePrivateKey, type StoredKey } from '../private-key';
import { FINAL_STATUSES, TRUST_POLICY_READY_STATUSES, configOfExecution, findBackendIgnoringCase, readOrg, type BackendConfig } from '../records';

export { cliStackRules, LOOPBACK_FLAG, messageWithFlags, requestFromFlags, type OnboardFlags } from './onboard-flags';
export { fitToWidth, follow, type FollowOutcome } from '../follow-view';

/** What the starter answers (functions/starter). Older/newer field names are tolerated. */
export interface StarterResult {
  executionArn: string;
  executionName?: string;
  configVersion?: number;
  /** True when this request was a double submit and the running execution was returned. */
  deduplicated?: boolean;
  alreadyRunning?: boolean;
  started?: boolean;
}

export interface OnboardResult {
  orgId: string;
  roleName: string;
  executionArn: string;
  executionName?: string;
  configVersion?: number;
  /** True when an identical onboarding was already running: this is its execution. */
  alreadyRunning: boolean;
  /** True when the backend was already active with exactly this configuration: nothing was started. */
  alreadyActive?: boolean;
  requestedBy: string;
  download: 's3' | 'cloudfront';
  privateKeySecretArn?: string;
  privateKeySecretVersionId?: string;
  platformRoleArn?: string;
  trustPolicy?: unknown;
  trustPolicyInstructions?: string;
  status?: string;
  final?: { executionStatus: string; status?: string; error?: { name: string; message: string; remediation: string } };
}

export async function onboard(flags: OnboardFlags, io: CliIo): Promise<ExitCode> {
  const style = styleFor(io);
  const out = (s: string) => {
    if (!flags.json) io.stdout.write(s);
  };
  // 1. Everything local first: flags, key file, environment. Nothing is written before these pass.
  const request = requestFromFlags(flags, io.env);
  const key = request.download.type === 'cloudfront' ? await loadPrivateKeyFile(flags.privateKeyFile!) : undefined;
  const env = requireEnv(io.env, [VARS.api, VARS.table, ...(key ? [VARS.secretPrefix] : [])]);
  const clients = new AwsClients(io.env);
  try {
    // 2. Who is asking (for display: the service records the identity that signs the API request, which is this one).
    const identity = await clients.sts.send(new GetCallerIdentityCommand({}));
    const requestedBy = identity.Arn ?? 'unknown';

    // 3. The key goes to Secrets Manager; only its ARN and version go further.
    let stored: StoredKey | undefined;
    if (key && request.download.type === 'cloudfront') {
      const name = secretNameFor(env[VARS.secretPrefix as keyof typeof env] ?? '', request.orgId, request.roleName, key.fingerprint);
      stored = await storePrivateKey(clients.secrets, name, key, request);
      request.download.privateKeySecretArn = stored.arn;
      if (stored.versionId) request.download.privateKeySecretVersionId = stored.versionId;
    }

    // 4. The same request again once it is active (a re-run of `onboard --follow` after the workflow
    // finished) would start a needless re-onboarding: say it is active instead. After a deactivation, or
    // with any difference, it goes to the starter as usual.
    const current = await readOrg(clients.dynamo, env[VARS.table], request.orgId);
    const backendNow = findBackendIgnoringCase(current, request.roleName);
    const serving = backendNow?.serving;
    const pendingRunning = backendNow?.pending && !FINAL_STATUSES.has(backendNow.pending.status);
    if (current?.active && current.active === backendNow?.roleName && serving && !pendingRunning && sameConfig(serving, request)) {
      const result: OnboardResult = {
        orgId: request.orgId,
        roleName: backendNow.roleName,
        executionArn: serving.executionArn,
        executionName: serving.executionName,
        configVersion: serving.configVersion,
        alreadyRunning: false,
        alreadyActive: true,
        requestedBy,
        download: request.download.type,
        privateKeySecretArn: stored?.arn,
        privateKeySecretVersionId: stored?.versionId,
        platformRoleArn: backendNow.platformRoleArn,
        trustPolicy: backendNow.trustPolicy ? parseMaybe(backendNow.trustPolicy) : undefined,
        trustPolicyInstructions: backendNow.trustPolicyInstructions,
        status: serving.status,
      };
      out(
        `${style.paint('green', '✔')} Backend "${backendNow.roleName}" of org ${request.orgId} is already ${paintStatus(style, 'ACTIVE')} ` +
          `with exactly this configuration (config v${serving.configVersion}, since ${serving.activatedAt ?? serving.updatedAt}); nothing started.\n` +
          `  execution     ${serving.executionArn}\n` +
          `  details       binary-backends status --org ${request.orgId}\n`,
      );
      io.onResult?.('onboard', result);
      if (flags.json) writeJson(io, result);
      return EXIT.ok;
    }

    // 5. The starter allocates the version and starts (or returns the running) execution. Through the
    // IAM-authorized API: the requester is the signer, so the body carries no requestedBy.
    const started = await postSigned<StarterResult>(clients, env[VARS.api], '/onboardings', request);
    const alreadyRunning = Boolean(started.deduplicated ?? started.alreadyRunning ?? started.started === false);
    const result: OnboardResult = {
      orgId: request.orgId,
      roleName: request.roleName,
      executionArn: started.executionArn,
      executionName: started.executionName,
      configVersion: started.configVersion,
      alreadyRunning,
      requestedBy,
      download: request.download.type,
      privateKeySecretArn: stored?.arn,
      privateKeySecretVersionId: stored?.versionId,
    };
    out(
      `${style.paint('bold', `Onboarding backend "${request.roleName}" of org ${request.orgId}`)}\n` +
        `  execution     ${started.executionArn}\n` +
        (alreadyRunning
          ? `  ${style.paint('yellow', 'already running')}: an identical onboarding was submitted before; this is its execution (nothing new started)\n`
          : `  config        version ${started.configVersion ?? '?'}\n`) +
        `  requested by  ${requestedBy}\n` +
        `  download      ${request.download.type === 'cloudfront' ? `CloudFront ${request.download.host} (key pair ${request.download.keyPairId}, ${request.download.hashAlgorithm})` : 'S3 presigned URLs'}\n` +
        (stored ? `  private key   stored in Secrets Manager: ${stored.arn} (version ${stored.versionId ?? 'current'})\n` : ''),
    );

    // 6. The trust policy, as soon as CreatePlatformRole has rendered it.
    const ready = await waitForTrustPolicy(clients, env[VARS.table], request, started.executionArn, io);
    result.status = ready.config?.status;
    if (ready.trustPolicy && alreadyRunning && flags.follow) {
      // A re-attach to follow: the policy was printed by the first submit; say where to get it again.
      result.platformRoleArn = ready.platformRoleArn;
      result.trustPolicy = parseMaybe(ready.trustPolicy);
      result.trustPolicyInstructions = ready.instructions;
      out(`  trust policy  binary-backends trust-policy --org ${request.orgId} --role-name ${request.roleName}\n`);
    } else if (ready.trustPolicy) {
      result.platformRoleArn = ready.platformRoleArn;
      result.trustPolicy = parseMaybe(ready.trustPolicy);
      result.trustPolicyInstructions = ready.instructions;
      out(
        `\n${style.paint('bold', 'Trust policy to send to the customer')} (to apply to ${request.upload.roleArn}):\n` +
          `${ready.trustPolicy}\n` +
          (ready.instructions ? `\n${ready.instructions}\n` : '') +
          `\nPrint it again any time: binary-backends trust-policy --org ${request.orgId} --role-name ${request.roleName}\n`,
      );
    } else if (ready.ended) {
      out(`\nThe workflow ended before the trust policy was ready.\n`);
    } else {
      out(
        `\nThe trust policy is not ready yet (status ${ready.config?.status ?? 'not recorded yet'}). ` +
          `Fetch it later: binary-backends trust-policy --org ${request.orgId} --role-name ${request.roleName}\n`,
      );
    }

    let code: ExitCode = EXIT.ok;
    if (flags.follow || ready.ended) {
      const final = await follow(clients, env[VARS.table], request.orgId, request.roleName, started.executionArn, io, !flags.json, 'binary-backends onboard <same flags> --follow');
      result.final = final;
      result.status = final.status ?? result.status;
      code = final.executionStatus === 'SUCCEEDED' ? EXIT.ok : EXIT.failure;
    } else {
      out(`\nFollow progress: binary-backends onboard <same flags> --follow   or   binary-backends status --org ${request.orgId}\n`);
    }
    io.onResult?.('onboard', result);
    if (flags.json) writeJson(io, result);
    return code;
  } finally {
    clients.destroy();
  }
}

/** Whether a serving config is exactly what this request asks for (the key by its secret ARN and version). */
export function sameConfig(c: BackendConfig, r: OnboardingRequest): boolean {
  const u = c.upload;
  if (u.bucket !== r.upload.bucket || u.region !== r.upload.region || u.roleArn !== r.upload.roleArn) return false;
  if ((u.prefix ?? '') !== (r.upload.prefix ?? '')) return false;
  const a = c.download;
  const b = r.download;
  if (a.type === 's3' || b.type === 's3') return a.type === b.type;
  return (
    a.host === b.host &&
    a.keyPairId === b.keyPairId &&
    a.hashAlgorithm === b.hashAlgorithm &&
    a.privateKeySecretArn === b.privateKeySecretArn &&
    (a.privateKeySecretVersionId ?? '') === (b.privateKeySecretVersionId ?? '') &&
    (a.ttlSeconds ?? 0) === (b.ttlSeconds ?? 0)
  );
}

function parseMaybe(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

interface TrustPolicyReady {
  trustPolicy?: string;
  instructions?: string;
  platformRoleArn?: string;
  config?: BackendConfig;
  ended: boolean;
}

/** Polls the record until this execution's config has a trust policy, the workflow ends, or time runs out. */
async function waitForTrustPolicy(
  clients: AwsClients,
  table: string,
  request: OnboardingRequest,
  executionArn: string,
  io: CliIo,
): Promise<TrustPolicyReady> {
  const clock = io.clock ?? (() => new Date());
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = clock().getTime() + (io.trustPolicyWaitMs ?? 120_000);
  for (;;) {
    const record = await readOrg(clients.dynamo, table, request.orgId);
    const found = configOfExecution(record, request.roleName, executionArn);
    if (found && TRUST_POLICY_READY_STATUSES.has(found.config.status) && found.backend.trustPolicy) {
      return {
        trustPolicy: found.backend.trustPolicy,
        instructions: found.backend.trustPolicyInstructions,
        platformRoleArn: found.backend.platformRoleArn,
        config: found.config,
        ended: found.config.status === 'ACTIVE',
      };
    }
    if (found && FINAL_STATUSES.has(found.config.status)) return { config: found.config, ended: true };
    const described = await describeExecution(clients.sfn, executionArn);
    if (described.status && described.status !== 'RUNNING') {
      return { config: found?.config, ended: true };
    }
    if (clock().getTime() >= deadline) return { config: found?.config, ended: false };
    await sleep(io.pollIntervalMs ?? 1000);
  }
}
