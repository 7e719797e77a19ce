/**
 * `binary-backends offboard --org <id> --backend <name> [--config-version N] [--reason TEXT] [--dry-run] [--yes] [--json]`
 *
 * Disconnects retired configs of a backend for good (docs/locations.md "Offboarding") through the
 * IAM-authorized front door (`POST /offboardings`, SigV4, cli/api.ts), so the offboarding records the caller
 * AWS verified. Without `--yes` it refuses when stdin is not a terminal (nothing is sent), and on a terminal it
 * first shows the plan (a dry run) and asks. `--dry-run` prints the plan and changes nothing.
 */
import { hasControlCharacters, roleNameProblem, type OffboardResult } from '../../functions/public';
import { postSigned } from '../api';
import { AwsClients, VARS, requireEnv } from '../aws';
import { EXIT, UsageError, styleFor, writeJson, type CliIo, type ExitCode, type Style } from '../io';
import { checkOrg } from './records-view';

export type { OffboardResult };

export interface OffboardFlags {
  org?: string;
  backend?: string;
  configVersion?: string;
  reason?: string;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
}

interface Request {
  orgId: string;
  roleName: string;
  configVersion?: number;
  reason?: string;
}

/** The flags as the request, or a UsageError naming the flag (nothing is sent). */
function parseFlags(flags: OffboardFlags): Request {
  const orgId = checkOrg(flags.org);
  if (flags.backend === undefined) throw new UsageError('--backend: required (the backend name, as in binary-backends status)');
  const p = roleNameProblem(flags.backend);
  if (p) throw new UsageError(`--backend: ${p}`);
  const request: Request = { orgId, roleName: flags.backend };
  if (flags.configVersion !== undefined) {
    if (!/^[1-9][0-9]{0,9}$/.test(flags.configVersion)) throw new UsageError(`--config-version: must be a whole number of at least 1 (got "${flags.configVersion}")`);
    request.configVersion = Number(flags.configVersion);
  }
  if (flags.reason !== undefined) {
    if (flags.reason.length > 500) throw new UsageError(`--reason: must be at most 500 characters (got ${flags.reason.length})`);
    if (hasControlCharacters(flags.reason)) throw new UsageError('--reason: must not contain control characters');
    request.reason = flags.reason;
  }
  return request;
}

function what(request: Request): string {
  return request.configVersion === undefined
    ? `every retired config of backend "${request.roleName}" of org ${request.orgId}`
    : `config ${request.configVersion} of backend "${request.roleName}" of org ${request.orgId}`;
}

export async function offboard(flags: OffboardFlags, io: CliIo): Promise<ExitCode> {
  const request = parseFlags(flags);
  if (!flags.dryRun && !flags.yes && !io.stdinIsTTY) {
    throw new UsageError(
      `--yes: required when stdin is not a terminal. Offboarding ${what(request)} disconnects its storage for good: ` +
        'binaries stored only there can no longer be downloaded through Peridio. Nothing was sent. ' +
        'See exactly what would be removed with --dry-run, then repeat with --yes.',
    );
  }
  const env = requireEnv(io.env, [VARS.api]);
  const clients = new AwsClients(io.env);
  const style = styleFor(io);
  try {
    const post = (dryRun: boolean) => postSigned<OffboardResult>(clients, env[VARS.api], '/offboardings', { ...request, ...(dryRun ? { dryRun: true } : {}) });
    if (flags.dryRun) {
      const plan = await post(true);
      io.onResult?.('offboard', plan);
      if (flags.json) writeJson(io, plan);
      else io.stdout.write(render(plan, style));
      return EXIT.ok;
    }
    if (!flags.yes) {
      // A terminal: show the plan, then ask. Nothing is changed unless the answer is yes.
      const plan = await post(true);
      io.stdout.write(render(plan, style));
      if (plan.nothingToDo) return EXIT.ok;
      const answer = io.ask ? await io.ask(`Offboard ${what(request)} as shown above? [y/N] `) : '';
      if (!/^y(es)?$/i.test(answer.trim())) {
        io.stdout.write('Not offboarded: nothing changed.\n');
        return EXIT.failure;
      }
    }
    // No requestedBy: the service records the identity that signed the request.
    const result = await post(false);
    io.onResult?.('offboard', result);
    if (flags.json) writeJson(io, result);
    else io.stdout.write(render(result, style));
    return EXIT.ok;
  } finally {
    clients.destroy();
  }
}

/** The result (or plan) for a person: what goes, what stays, how to undo what can be undone. */
export function render(r: OffboardResult, style: Style): string {
  const lines: string[] = [];
  const head = (s: string) => lines.push(style.paint('bold', s));
  const would = r.dryRun;
  if (would) lines.push(`${style.paint('yellow', 'DRY RUN')}: nothing changed. This is exactly what offboarding would remove.`);
  if (r.nothingToDo) {
    lines.push(`Nothing to offboard: backend "${r.roleName}" of org ${r.orgId} has no retired config. Nothing changed.`);
    pushConnected(lines, r);
    return `${lines.join('\n')}\n`;
  }
  if (r.offboarded.length > 0) {
    head(`${would ? 'Would offboard' : 'Offboarded'} ${r.offboarded.length} config(s) of backend "${r.roleName}" (org ${r.orgId}):`);
    for (const o of r.offboarded) {
      lines.push(`  ${o.location}  config ${o.configVersion}  s3://${o.bucket}/${o.prefix ?? ''}  download: ${o.download}  customer role: ${o.customerRoleArn}`);
    }
    if (!would) lines.push(`  by ${r.offboardedBy} at ${r.offboardedAt}${r.reason ? `, reason: ${r.reason}` : ''}`);
  }
  if (r.alreadyOffboarded.length > 0) {
    head('Already offboarded (unchanged):');
    for (const a of r.alreadyOffboarded) {
      lines.push(`  ${a.location}  config ${a.configVersion}${a.offboardedAt ? `  at ${a.offboardedAt}` : ''}${a.offboardedBy ? ` by ${a.offboardedBy}` : ''}`);
    }
  }
  const pr = r.platformRole;
  if (pr.action === 'deleted') {
    lines.push(`Platform role ${pr.name}: ${would ? 'would be DELETED' : 'DELETED'} (no config of the backend needs it any more).`);
  } else {
    lines.push(`Platform role ${pr.name}: ${would ? 'would be kept' : 'kept'}; may assume only ${pr.allowedCustomerRoleArns.join(', ')}.`);
  }
  if (pr.removedCustomerRoleArns.length > 0) lines.push(`  no longer assumable: ${pr.removedCustomerRoleArns.join(', ')}`);
  if (r.keysScheduledForDeletion.length > 0) {
    head(`CloudFront private keys ${would ? 'that would be' : ''} scheduled for deletion (30-day recovery window, never forced):`);
    for (const k of r.keysScheduledForDeletion) {
      const note =
        k.outcome === 'already-scheduled' ? 'was already scheduled' : k.outcome === 'not-found' ? 'already gone' : k.deletionDate ? `deleted for good on ${k.deletionDate}` : '';
      lines.push(`  ${k.secretArn}  (${k.locations.join(', ')})${note ? `  ${note}` : ''}`);
    }
    if (!would) lines.push('  undo within the window: aws secretsmanager restore-secret --secret-id <arn>');
  }
  for (const k of r.keysKept) lines.push(`CloudFront key kept (still used by ${k.stillUsedBy.join(', ')}): ${k.secretArn}`);
  // Older answers (a stack deployed before claims were released here) have no claimsReleased.
  if (r.claimsReleased?.length) {
    head(`Cross-org claims ${would ? 'that would be ' : ''}released (another org may then onboard these):`);
    for (const c of r.claimsReleased) lines.push(`  ${c.location}  customer role: ${c.customerRoleArn}  s3://${c.bucket}/${c.prefix}`);
  }
  pushConnected(lines, r);
  lines.push(
    style.paint('yellow', 'Note:') +
      ` binaries stored only in ${would ? 'these locations' : 'the offboarded locations'} can no longer be downloaded through Peridio (LocationOffboardedError); the buckets and their objects are not touched.`,
  );
  if (would) lines.push('To proceed: the same command without --dry-run (add --yes when not at a terminal).');
  return `${lines.join('\n')}\n`;
}

function pushConnected(lines: string[], r: OffboardResult): void {
  if (r.stillConnected.length > 0) lines.push(`Still connected: ${r.stillConnected.map((c) => `${c.location} (${c.state})`).join(', ')}`);
  else lines.push('Still connected: none of this backend (the org uses its other backends or default storage).');
}
