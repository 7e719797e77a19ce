/**
 * `binary-backends sign` and `binary-backends deactivate`: invoking the signer through the Lambda API,
 * exactly as internal services do, and deactivating through the IAM-authorized API (cli/api.ts), so the
 * deactivation records the caller AWS verified.
 */
import { hasControlCharacters } from '../../functions/public';
import { postSigned } from '../api';
import { AwsClients, VARS, requireEnv } from '../aws';
import { EXIT, UsageError, printableValues, styleFor, table, writeJson, type CliIo, type ExitCode } from '../io';
import { LambdaFunctionError, invokeJson } from '../lambda';
import { checkOrg } from './records-view';

export interface SignedUrl {
  key: string;
  url: string;
  method: string;
  headers?: Record<string, string>;
  expiresAt: string;
}

export interface SignResult {
  storage: 'default' | 'custom';
  roleName?: string;
  via: 's3' | 'cloudfront';
  /** Where these URLs point (docs/locations.md): keep it with an upload, send it back with the download. */
  location?: string;
  urls: SignedUrl[];
  [extra: string]: unknown;
}

export async function sign(
  flags: { org?: string; key?: string[]; upload?: boolean; ttl?: string; location?: string; json?: boolean },
  io: CliIo,
): Promise<ExitCode> {
  const orgId = checkOrg(flags.org);
  const keys = flags.key ?? [];
  if (keys.length === 0) throw new UsageError('--key: required (repeat --key for several objects)');
  if (keys.length > 1000) throw new UsageError(`--key: at most 1000 keys per call (got ${keys.length})`);
  for (const k of keys) {
    if (k === '') throw new UsageError('--key: must not be empty');
    if (hasControlCharacters(k)) throw new UsageError(`--key: must not contain control characters (got ${JSON.stringify(k)})`);
  }
  let ttlSeconds: number | undefined;
  if (flags.ttl !== undefined) {
    if (!/^\d+$/.test(flags.ttl.trim())) throw new UsageError(`--ttl: must be a whole number of seconds (got ${JSON.stringify(flags.ttl)})`);
    ttlSeconds = Number(flags.ttl);
  }
  if (flags.location !== undefined) {
    // The signer checks the syntax and that the location belongs to this org (ValidationError naming
    // `location`, shown as --location); refuse here, before any call, only what is certainly wrong.
    if (flags.upload) throw new UsageError('--location: not with --upload (uploads always go to the current route; the answer says which location)');
    if (flags.location === '') throw new UsageError('--location: must not be empty');
    if (hasControlCharacters(flags.location)) throw new UsageError(`--location: must not contain control characters (got ${JSON.stringify(flags.location)})`);
  }
  const env = requireEnv(io.env, [VARS.signer]);
  const clients = new AwsClients(io.env);
  try {
    const operation = flags.upload ? 'upload' : 'download';
    let result: SignResult;
    try {
      result = await invokeJson<SignResult>(clients.lambda, env[VARS.signer], {
        orgId,
        operation,
        keys,
        ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
        ...(flags.location === undefined ? {} : { location: flags.location }),
      });
    } catch (err) {
      // The signer names request fields (`keys.3`, `ttlSeconds`); support typed flags.
      if (err instanceof LambdaFunctionError && err.errorType === 'ValidationError') {
        throw new UsageError(signerMessageWithFlags(err.errorMessage, keys));
      }
      throw err;
    }
    io.onResult?.('sign', result);
    if (flags.json) {
      writeJson(io, result);
      return EXIT.ok;
    }
    const style = styleFor(io);
    result = printableValues(result);
    io.stdout.write(
      `${style.paint('bold', `${operation === 'upload' ? 'Upload' : 'Download'} URLs`)} for org ${orgId}: ` +
        `${result.storage === 'custom' ? `custom backend "${result.roleName}"` : 'default storage'}, via ${result.via}` +
        `${result.location ? `, location ${result.location}` : ''}\n`,
    );
    io.stdout.write(
      table(
        style,
        ['KEY', 'METHOD', 'EXPIRES AT', 'URL'],
        result.urls.map((u) => [u.key, u.method, u.expiresAt, u.url]),
      ),
    );
    const headers = result.urls.filter((u) => u.headers && Object.keys(u.headers).length > 0);
    for (const u of headers) io.stdout.write(`headers for ${u.key}: ${JSON.stringify(u.headers)}\n`);
    return EXIT.ok;
  } finally {
    clients.destroy();
  }
}

/** `keys.3: too long; ttlSeconds: must be ...; location: ...` -> `--key "fw/x": too long; --ttl: must be ...; --location: ...`. */
export function signerMessageWithFlags(message: string, keys: readonly string[]): string {
  return message
    .replace(/(^|; )keys\.(\d+): /g, (_m, sep: string, i: string) => `${sep}--key ${JSON.stringify(keys[Number(i)] ?? '')}: `)
    .replace(/(^|; )keys: /g, '$1--key: ')
    .replace(/(^|; )ttlSeconds: /g, '$1--ttl: ')
    .replace(/(^|; )location: /g, '$1--location: ');
}

export interface DeactivateResult {
  orgId: string;
  /** False when the org already used default storage (nothing was written). */
  deactivated: boolean;
  previousActive: string | null;
  deactivatedAt?: string;
  /** Onboardings that were running and can no longer activate (they end with OnboardingFencedError). */
  fencedOnboardings?: { roleName: string; executionName: string; executionArn: string; status: string }[];
  warning?: string;
}

const GENERIC_WARNING =
  "Binaries stored in the customer's bucket stay there: they are not copied to default storage and are no longer served. " +
  'Re-upload what devices still need, or re-onboard the backend.';

export async function deactivate(flags: { org?: string; confirm?: boolean; json?: boolean }, io: CliIo): Promise<ExitCode> {
  const orgId = checkOrg(flags.org);
  if (!flags.confirm) {
    throw new UsageError(
      `--confirm: required. Deactivating switches org ${orgId} back to Peridio's default storage (signers pick it up ` +
        'within their config cache TTL, 30 s by default). Binaries already in the custom bucket stay there and are no ' +
        'longer served. Repeat with --confirm to proceed.',
    );
  }
  const env = requireEnv(io.env, [VARS.api]);
  const clients = new AwsClients(io.env);
  try {
    // No requestedBy: the service records the identity that signed the request.
    const result = await postSigned<DeactivateResult>(clients, env[VARS.api], '/deactivations', { orgId, confirm: true });
    const full = { ...result, warning: result.deactivated ? (result.warning ?? GENERIC_WARNING) : undefined };
    io.onResult?.('deactivate', full);
    if (flags.json) {
      writeJson(io, full);
      return EXIT.ok;
    }
    const style = styleFor(io);
    const fenced = result.fencedOnboardings ?? [];
    const writeFenced = () => {
      for (const f of fenced) {
        io.stdout.write(`Fenced: onboarding ${f.executionName} of backend "${f.roleName}" (${f.status}) can no longer activate.\n`);
      }
    };
    if (!result.deactivated) {
      io.stdout.write(`Org ${orgId} already uses Peridio's default storage; ${fenced.length > 0 ? 'it stays there.' : 'nothing changed.'}\n`);
      writeFenced();
      return EXIT.ok;
    }
    io.stdout.write(
      `Org ${orgId} now uses Peridio's default storage (backend "${result.previousActive}" is no longer active; ` +
        'signers pick this up within their config cache TTL, 30 s by default).\n',
    );
    writeFenced();
    io.stdout.write(`${style.paint('yellow', 'Warning:')} ${full.warning}\n`);
    return EXIT.ok;
  } finally {
    clients.destroy();
  }
}
