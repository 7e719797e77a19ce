/**
 * `binary-backends trust-policy` and `binary-backends status`: what support reads from the org record.
 */
import { approvalLine, approvalOfConfig } from '../approval-view';
import { remediationFor, orgIdProblem, roleNameProblem } from '../../functions/public';
import { AwsClients, VARS, requireEnv } from '../aws';
import {
  CommandFailure,
  EXIT,
  UsageError,
  humanDuration,
  paintStatus,
  styleFor,
  table,
  printableValues,
  writeJson,
  type CliIo,
  type ExitCode,
} from '../io';
import { configsOfBackend, findBackendIgnoringCase, listLocations, readOrg, type Backend, type BackendConfig, type ConfigRow } from '../records';

export function checkOrg(org: string | undefined): string {
  if (org === undefined) throw new UsageError('--org: required');
  const p = orgIdProblem(org);
  if (p) throw new UsageError(`--org: ${p}`);
  return org;
}

export function checkRoleName(roleName: string | undefined): string {
  if (roleName === undefined) throw new UsageError('--role-name: required');
  const p = roleNameProblem(roleName);
  if (p) throw new UsageError(`--role-name: ${p}`);
  return roleName;
}

export async function trustPolicy(flags: { org?: string; roleName?: string; json?: boolean }, io: CliIo): Promise<ExitCode> {
  const orgId = checkOrg(flags.org);
  const roleName = checkRoleName(flags.roleName);
  const env = requireEnv(io.env, [VARS.table]);
  const clients = new AwsClients(io.env);
  try {
    const record = await readOrg(clients.dynamo, env[VARS.table], orgId);
    const backend = findBackendIgnoringCase(record, roleName);
    if (!backend) {
      throw new CommandFailure(`Org ${orgId} has no backend named "${roleName}".`, 'BackendNotFoundError', remediationFor('BackendNotFoundError'));
    }
    if (!backend.trustPolicy) {
      const status = backend.pending?.status ?? backend.serving?.status ?? 'unknown';
      throw new CommandFailure(
        `The trust policy for backend "${backend.roleName}" is not ready yet (status ${status}). ` +
          'The workflow renders it once the platform role exists; try again in a few seconds.',
      );
    }
    const result = {
      orgId,
      roleName: backend.roleName,
      platformRoleArn: backend.platformRoleArn,
      customerRoleArn: (backend.pending ?? backend.serving)?.upload.roleArn,
      trustPolicy: JSON.parse(backend.trustPolicy) as unknown,
      instructions: backend.trustPolicyInstructions,
    };
    io.onResult?.('trust-policy', result);
    if (flags.json) {
      writeJson(io, result);
    } else {
      // stdout carries exactly the JSON, so `> trust-policy.json` gives the customer's file.
      io.stdout.write(backend.trustPolicy.endsWith('\n') ? backend.trustPolicy : `${backend.trustPolicy}\n`);
      // The instructions go to stderr, so `> trust-policy.json` still captures only the policy.
      io.stderr.write(
        `\n${backend.trustPolicyInstructions ?? `Apply this as the trust policy of ${result.customerRoleArn ?? "the customer's role"}.`}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    clients.destroy();
  }
}

function configSummary(c: BackendConfig) {
  return {
    configVersion: c.configVersion,
    status: c.status,
    executionArn: c.executionArn,
    requestedBy: c.requestedBy,
    startedAt: c.startedAt,
    trustDeadlineAt: c.trustDeadlineAt,
    attempts: c.attempts,
    lastCheckedAt: c.lastCheckedAt,
    lastCheckResult: c.lastCheckResult,
    nextCheckAt: c.nextCheckAt,
    activatedAt: c.activatedAt,
    upload: c.upload,
    download:
      c.download.type === 'cloudfront'
        ? {
            type: 'cloudfront' as const,
            host: c.download.host,
            keyPairId: c.download.keyPairId,
            hashAlgorithm: c.download.hashAlgorithm,
            privateKeySecretArn: c.download.privateKeySecretArn,
            ttlSeconds: c.download.ttlSeconds,
          }
        : { type: 's3' as const },
    checks: c.checks ?? [],
    error: c.error,
    approval: approvalOfConfig(c.approval, c.error?.name),
  };
}

export interface StatusResult {
  orgId: string;
  /** Where the signer routes the org now. */
  storage: 'default' | 'custom';
  active?: string;
  backends: {
    roleName: string;
    active: boolean;
    platformRoleArn?: string;
    trustPolicyReady: boolean;
    serving?: ReturnType<typeof configSummary>;
    pending?: ReturnType<typeof configSummary>;
    /**
     * Every config of the backend, oldest first, with its state (pending, serving, retired, offboarded;
     * failed or abandoned for an onboarding that never served), its storage location and its dates.
     */
    configs: ConfigRow[];
  }[];
}

export async function status(flags: { org?: string; json?: boolean }, io: CliIo): Promise<ExitCode> {
  const orgId = checkOrg(flags.org);
  const env = requireEnv(io.env, [VARS.table]);
  const clients = new AwsClients(io.env);
  try {
    const [record, items] = await Promise.all([
      readOrg(clients.dynamo, env[VARS.table], orgId),
      listLocations(clients.dynamo, env[VARS.table], orgId),
    ]);
    const backends = Object.values(record?.backends ?? {}).sort((a, b) => a.roleName.localeCompare(b.roleName));
    const result: StatusResult = {
      orgId,
      storage: record?.active ? 'custom' : 'default',
      active: record?.active,
      backends: backends.map((b: Backend) => ({
        roleName: b.roleName,
        active: record?.active === b.roleName,
        platformRoleArn: b.platformRoleArn,
        trustPolicyReady: Boolean(b.trustPolicy),
        serving: b.serving && configSummary(b.serving),
        pending: b.pending && configSummary(b.pending),
        configs: configsOfBackend(record, b, items),
      })),
    };
    io.onResult?.('status', result);
    if (flags.json) {
      writeJson(io, result);
      return EXIT.ok;
    }
    io.stdout.write(renderStatus(result, io));
    return EXIT.ok;
  } finally {
    clients.destroy();
  }
}

export function renderStatus(unsafe: StatusResult, io: CliIo): string {
  // Record fields (requestedBy, messages, names) are untrusted text: clean them before adding our styling.
  const result = printableValues(unsafe);
  const style = styleFor(io);
  const now = (io.clock ?? (() => new Date()))();
  const lines: string[] = [];
  lines.push(
    `${style.paint('bold', `Org ${result.orgId}`)}: ` +
      (result.active
        ? `downloads and uploads go to custom backend ${style.paint('green', `"${result.active}"`)}`
        : `uses Peridio's default storage${result.backends.length ? ' (no custom backend is active)' : ' (no custom backends)'}`),
  );
  if (result.backends.length === 0) return `${lines.join('\n')}\n`;
  lines.push('');
  const rows = result.backends.flatMap((b) =>
    (['serving', 'pending'] as const)
      .filter((slot) => b[slot])
      .map((slot) => {
        const c = b[slot]!;
        return [
          b.active && slot === 'serving' ? style.paint('green', `${b.roleName} *`) : b.roleName,
          // A serving config of a backend the org no longer routes to was retired (another backend activated, or
          // the org was deactivated): the org item keeps it, the configs table below shows its location's state.
          slot === 'serving' && !b.active ? 'retired' : slot,
          `v${c.configVersion}`,
          slot === 'serving' && !b.active ? style.paint('gray', 'RETIRED') : paintStatus(style, c.status),
          `${c.upload.bucket} (${c.upload.region})`,
          c.download.type === 'cloudfront' ? `cloudfront ${c.download.host}` : 's3',
          c.status === 'AWAITING_TRUST' ? `${c.attempts} checks` : c.activatedAt ? `active since ${c.activatedAt}` : c.error ? c.error.name : '',
        ];
      }),
  );
  lines.push(table(style, ['BACKEND', 'CONFIG', 'VERSION', 'STATUS', 'BUCKET', 'DOWNLOAD', 'NOTE'], rows).trimEnd());
  if (result.active) lines.push(style.paint('gray', '* active: the signer routes the org to this backend'));
  for (const b of result.backends) {
    for (const slot of ['pending', 'serving'] as const) {
      const c = b[slot];
      if (!c) continue;
      // The serving config's checks were shown when it was pending; show them only if nothing is pending.
      if (slot === 'serving' && b.pending) continue;
      lines.push('', style.paint('bold', `Backend "${b.roleName}" ${slot} v${c.configVersion}: ${c.status}`));
      lines.push(`  execution   ${c.executionArn}`);
      lines.push(`  requested   by ${c.requestedBy} at ${c.startedAt}`);
      if (c.approval) lines.push(`  approval    ${approvalLine(c.approval, c.executionArn.split(':').pop())}`);
      lines.push(`  role        ${c.upload.roleArn} (platform role ${b.platformRoleArn ?? 'not created yet'})`);
      if (c.status === 'AWAITING_TRUST' || c.status === 'PENDING') {
        const localWait = io.env.BINARY_BACKENDS_LOCAL_WAIT_FOR_TRUST_MS;
        const next =
          (c.nextCheckAt ? humanDuration(Math.max(0, new Date(c.nextCheckAt).getTime() - now.getTime())) : '?') +
          (localWait ? ` on the production schedule (this local stack waits ${humanDuration(Number(localWait))})` : '');
        lines.push(
          c.attempts > 0
            ? `  trust       ${c.attempts} check${c.attempts === 1 ? '' : 's'} so far${c.lastCheckResult ? `, last: ${c.lastCheckResult}` : ''}; next check in ${next}; gives up at ${c.trustDeadlineAt}`
            : `  trust       the first check is starting; gives up at ${c.trustDeadlineAt}`,
        );
        if (b.trustPolicyReady) lines.push(`              send the customer: binary-backends trust-policy --org ${result.orgId} --role-name ${b.roleName}`);
      }
      if (c.checks.length > 0) {
        lines.push(
          table(
            style,
            ['  CHECK', 'RESULT', 'MESSAGE'],
            c.checks.map((k) => [`  ${k.name}`, paintStatus(style, k.result), k.message + (k.fix && k.result !== 'PASS' ? `\nfix: ${k.fix}` : '')]),
          ).trimEnd(),
        );
      }
      if (c.error) {
        lines.push(`  ${style.paint('red', 'error')}       ${c.error.name}: ${c.error.message}`);
        lines.push(`  fix         ${c.error.remediation}`);
      }
    }
  }
  for (const b of result.backends) {
    // Only once a config has served: before that, the table above says everything there is.
    if (!b.configs.some((c) => c.location)) continue;
    lines.push('', style.paint('bold', `Configs of backend "${b.roleName}"`) + style.paint('gray', ' (binaries stay downloadable through their location until it is offboarded)'));
    lines.push(
      table(
        style,
        ['  VERSION', 'STATE', 'LOCATION', 'STORAGE', 'DOWNLOAD', 'DATES'],
        b.configs.map((c) => [
          `  v${c.configVersion}`,
          paintState(style, c.state),
          c.location ?? '-',
          `s3://${c.bucket}/${c.prefix ?? ''} (${c.region})`,
          c.download === 'cloudfront' ? `cloudfront ${c.cloudFrontHost ?? ''}`.trim() : 's3',
          configDates(c),
        ]),
      ).trimEnd(),
    );
  }
  return `${lines.join('\n')}\n`;
}

function paintState(style: ReturnType<typeof styleFor>, state: ConfigRow['state']): string {
  if (state === 'serving') return style.paint('green', state);
  if (state === 'offboarded' || state === 'failed' || state === 'abandoned') return style.paint('red', state);
  if (state === 'retired') return style.paint('gray', state);
  return style.paint('yellow', state);
}

/** One line per change: requested, activated, retired (why, by whom), offboarded (by whom, why). */
function configDates(c: ConfigRow): string {
  const out: string[] = [];
  if (!c.activatedAt) out.push(`requested by ${c.requestedBy}`);
  if (c.activatedAt) out.push(`activated ${c.activatedAt} (requested by ${c.requestedBy})`);
  if (c.retiredAt || c.state === 'retired') {
    const why = c.retiredReason === 'replaced' ? `replaced${c.replacedBy ? ` by ${c.replacedBy}` : ''}` : c.retiredReason;
    out.push(`retired ${c.retiredAt ?? '(date not recorded yet)'}${why ? ` (${why})` : ''}${c.retiredBy ? ` by ${c.retiredBy}` : ''}`);
  }
  if (c.offboardedAt) {
    out.push(`offboarded ${c.offboardedAt}${c.offboardedBy ? ` by ${c.offboardedBy}` : ''}${c.offboardReason ? `: ${c.offboardReason}` : ''}`);
  }
  return out.join('\n');
}
