/**
 * `binary-backends onboard`: validate locally, store the CloudFront key, go through the starter (the
 * same one the *Onboarding Requested* event reaches) via the IAM-authorized API (cli/api.ts), then print the trust policy for the customer as
 * soon as the workflow renders it, and with --follow watch the workflow until it ends.
 */
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { ValidationError, parseOnboardingRequest, partitionOfRegion, type OnboardingRequest, type StackRules } from '../../functions/public';
import { AwsClients, VARS, regionOf, requireEnv, type Env } from '../aws';
import { describeExecution, executionError, latestEvents, currentState, terminalError } from '../executions';
import { EXIT, UsageError, humanDuration, paintStatus, styleFor, visibleLength, writeJson, type CliIo, type ExitCode } from '../io';
import { postSigned } from '../api';
import { loadPrivateKeyFile, secretNameFor, storePrivateKey, type StoredKey } from '../private-key';
import { FINAL_STATUSES, TRUST_POLICY_READY_STATUSES, configOfExecution, findBackendIgnoringCase, readOrg, type BackendConfig } from '../records';

export interface OnboardFlags {
  org?: string;
  roleName?: string;
  bucket?: string;
  region?: string;
  roleArn?: string;
  cloudfrontHost?: string;
  keyPairId?: string;
  privateKeyFile?: string;
  ttl?: string;
  hashAlgorithm?: string;
  follow?: boolean;
  json?: boolean;
}

/** Request field -> the flag support typed, for messages. */
const FLAG_OF_FIELD: Record<string, string> = {
  orgId: '--org',
  roleName: '--role-name',
  'upload.bucket': '--bucket',
  'upload.region': '--region',
  'upload.roleArn': '--role-arn',
  download: '--cloudfront-host',
  'download.host': '--cloudfront-host',
  'download.keyPairId': '--key-pair-id',
  'download.hashAlgorithm': '--hash-algorithm',
  'download.ttlSeconds': '--ttl',
  'download.privateKeySecretArn': '--private-key-file',
  'download.privateKeySecretVersionId': '--private-key-file',
};

/** Only for validating the rest of the request before the key is stored; never sent anywhere. */
const PLACEHOLDER_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:not-yet-stored';

/** Rewrites `upload.bucket: ...; orgId: ...` as `--bucket: ...; --org: ...`. */
export function messageWithFlags(err: ValidationError): string {
  let message = err.message;
  const fields = [...new Set(err.fields)].sort((a, b) => b.length - a.length);
  for (const field of fields) {
    const flag = FLAG_OF_FIELD[field] ?? field;
    message = message.split(`${field}: `).join(`${flag}: `);
  }
  return message;
}

function wholeSeconds(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim())) throw new UsageError(`${flag}: must be a whole number of seconds (got ${JSON.stringify(v)})`);
  return Number(v);
}

/**
 * The validated request, with the CloudFront key's secret still a placeholder. Throws UsageError naming
 * the flags; nothing has been read or written yet.
 */
export function requestFromFlags(f: OnboardFlags, env: Env = {}): OnboardingRequest {
  const required: [keyof OnboardFlags, string][] = [
    ['org', '--org'],
    ['roleName', '--role-name'],
    ['bucket', '--bucket'],
    ['region', '--region'],
    ['roleArn', '--role-arn'],
  ];
  const missing = required.filter(([k]) => f[k] === undefined).map(([, flag]) => flag);
  const cloudFront = [f.cloudfrontHost, f.keyPairId, f.privateKeyFile, f.ttl, f.hashAlgorithm].some((v) => v !== undefined);
  if (cloudFront) {
    if (f.cloudfrontHost === undefined) missing.push('--cloudfront-host');
    if (f.keyPairId === undefined) missing.push('--key-pair-id');
    if (f.privateKeyFile === undefined) missing.push('--private-key-file');
  }
  if (missing.length > 0) {
    throw new UsageError(
      `${missing.join(', ')}: required${cloudFront ? ' (CloudFront download needs --cloudfront-host, --key-pair-id and --private-key-file together)' : ''}`,
    );
  }
  const ttlSeconds = wholeSeconds('--ttl', f.ttl);
  const input = {
    orgId: f.org,
    roleName: f.roleName,
    upload: { bucket: f.bucket, region: f.region, roleArn: f.roleArn },
    download: cloudFront
      ? {
          type: 'cloudfront',
          host: f.cloudfrontHost,
          keyPairId: f.keyPairId,
          hashAlgorithm: f.hashAlgorithm ?? 'SHA1',
          privateKeySecretArn: PLACEHOLDER_SECRET_ARN,
          ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
        }
      : { type: 's3' },
  };
  try {
    return parseOnboardingRequest(input, cliStackRules(env));
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(messageWithFlags(err));
    throw err;
  }
}

/**
 * The stack rules the CLI can know before anything is written (the starter and RecordConfig check them
 * again): the partition of AWS_REGION, the platform account (PLATFORM_ACCOUNT_ID, else the state machine
 * ARN's), and the loopback flag the local stack writes into .local/aws.env. Key secrets are the CLI's own,
 * so their rule is left to the starter. Undefined without a known region.
 */
export function cliStackRules(env: Env): StackRules | undefined {
  const region = regionOf(env);
  const partition = region === undefined ? undefined : partitionOfRegion(region);
  if (!partition) return undefined;
  const fromArn = env[VARS.stateMachine]?.split(':')[4];
  const platformAccountId = env.PLATFORM_ACCOUNT_ID ?? (fromArn && /^\d{12}$/.test(fromArn) ? fromArn : undefined);
  return { partition, platformAccountId, allowLoopbackHosts: env[LOOPBACK_FLAG] === 'true' };
}

/** Set to "true" by the local stack (.local/aws.env): its CloudFront edge is a loopback host. */
export const LOOPBACK_FLAG = 'BINARY_BACKENDS_ALLOW_LOOPBACK_HOSTS';

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
      const final = await follow(clients, env[VARS.table], request.orgId, request.roleName, started.executionArn, io, !flags.json);
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

/** Joins the parts with two spaces, dropping trailing parts (then cutting) to stay within `columns`. */
export function fitToWidth(parts: string[], columns: number): string {
  const max = Math.max(20, columns - 1);
  const kept = [...parts];
  while (kept.length > 1 && visibleLength(kept.join('  ')) > max) kept.pop();
  const line = kept.join('  ');
  if (visibleLength(line) <= max) return line;
  // One part alone is too long: cut its visible text (escape codes are dropped with it).
  return `${line.replace(/\u001b\[[0-9;]*m/g, '').slice(0, max - 1)}…`;
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

export interface FollowOutcome {
  executionStatus: string;
  status?: string;
  error?: { name: string; message: string; remediation: string };
}

/**
 * Live progress until the execution ends: the current state, the backend's status, the CheckTrust attempt
 * count and the time until the next check. On a terminal the line is redrawn in place; in a pipe a line
 * is printed whenever something but the countdown changes.
 */
export async function follow(
  clients: AwsClients,
  table: string,
  orgId: string,
  roleName: string,
  executionArn: string,
  io: CliIo,
  print: boolean,
): Promise<FollowOutcome> {
  // Ctrl-C stops watching, not the onboarding: say so, so nobody restarts it in a panic.
  const removeInterrupt = io.onInterrupt?.(
    () =>
      `\nStopped following. The onboarding keeps running on its own.\n` +
      `  where it is:  binary-backends status --org ${orgId}\n` +
      `  follow again: binary-backends onboard <same flags> --follow\n`,
  );
  try {
    return await followLoop(clients, table, orgId, roleName, executionArn, io, print);
  } finally {
    removeInterrupt?.();
  }
}

async function followLoop(
  clients: AwsClients,
  table: string,
  orgId: string,
  roleName: string,
  executionArn: string,
  io: CliIo,
  print: boolean,
): Promise<FollowOutcome> {
  const style = styleFor(io);
  const clock = io.clock ?? (() => new Date());
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let lastKey = '';
  let redrawing = false;
  if (print) io.stdout.write(`\n${style.paint('bold', 'Following')} ${executionArn}\n`);
  for (;;) {
    const described = await describeExecution(clients.sfn, executionArn);
    const events = await latestEvents(clients.sfn, executionArn);
    const record = await readOrg(clients.dynamo, table, orgId);
    const config = configOfExecution(record, roleName, executionArn)?.config;
    const state = currentState(events) ?? '(starting)';
    const now = clock();
    const running = described.status === 'RUNNING';
    if (print && running) {
      const attempts = config?.attempts ?? 0;
      let nextIn = config?.nextCheckAt ? new Date(config.nextCheckAt).getTime() - now.getTime() : undefined;
      // The local stack shortens every Wait state; the record keeps the production schedule. When the stack
      // says how long its waits are, count down to the real next check instead.
      const localWaitMs = Number(io.env.BINARY_BACKENDS_LOCAL_WAIT_FOR_TRUST_MS ?? NaN);
      const waitEntered = [...events].reverse().find((ev) => ev.stateEnteredEventDetails?.name === 'WaitForTrust')?.timestamp;
      if (Number.isFinite(localWaitMs) && state === 'WaitForTrust' && waitEntered) {
        const local = new Date(waitEntered).getTime() + localWaitMs - now.getTime();
        nextIn = nextIn === undefined ? local : Math.min(nextIn, local);
      }
      const parts = [
        style.paint('gray', now.toISOString().slice(11, 19)),
        style.paint('cyan', state.padEnd(18)),
        paintStatus(style, (config?.status ?? 'PENDING').padEnd(14)),
        `CheckTrust attempts ${attempts}`,
        ...(state === 'WaitForTrust' && nextIn !== undefined ? [`next check in ${humanDuration(Math.max(0, nextIn))}`] : []),
        ...(state === 'CheckTrust' ? ['checking now'] : []),
        ...(config?.lastCheckResult && (state === 'WaitForTrust' || state === 'CheckTrust')
          ? [style.paint('gray', `(${config.lastCheckResult})`)]
          : []),
      ].filter(Boolean);
      const key = `${state}|${config?.status}|${attempts}`;
      if (style.colour) {
        // Each change of state, status or attempt keeps its line; the countdown redraws the current one,
        // cut to the terminal's width so the redraw never wraps.
        if (redrawing && key !== lastKey) io.stdout.write('\n');
        io.stdout.write(`\r\u001b[K${fitToWidth(parts, io.columns ?? 120)}`);
        redrawing = true;
      } else if (key !== lastKey) {
        io.stdout.write(`${parts.join('  ')}\n`);
      }
      lastKey = key;
    }
    if (!running) {
      if (redrawing) io.stdout.write('\n');
      const error =
        described.status === 'SUCCEEDED'
          ? undefined
          : (config?.error && { name: config.error.name, message: config.error.message, remediation: config.error.remediation }) ??
            terminalError(events) ??
            executionError(described.error, described.cause);
      const outcome: FollowOutcome = { executionStatus: described.status ?? 'UNKNOWN', status: config?.status, error };
      if (print) {
        if (described.status === 'SUCCEEDED') {
          io.stdout.write(
            `${style.paint('green', '✔')} Backend "${roleName}" of org ${orgId} is ${paintStatus(style, config?.status ?? 'ACTIVE')}: ` +
              `the signer now routes this org to it.\n`,
          );
        } else {
          io.stdout.write(
            `${style.paint('red', '✘')} Onboarding ${paintStatus(style, described.status ?? 'FAILED')}` +
              (error ? `: ${style.paint('bold', error.name)}: ${error.message}\n  fix: ${error.remediation}\n` : '\n'),
          );
        }
      }
      return outcome;
    }
    await sleep(io.pollIntervalMs ?? 1000);
  }
}

