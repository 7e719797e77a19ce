/**
 * `binary-backends`: the support and operator CLI (DESIGN "CLI `binary-backends` (contract)").
 *
 * `runCli(argv, io)` runs one command in-process and returns its exit code (0 ok, 1 failure, 2 bad
 * usage), so tests and the demo drive the real CLI. Run directly (`tsx cli/main.ts ...`, `npm start`,
 * `npm run demo`) or through `bin/binary-backends.mjs`, it uses the process's environment and streams.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { remediationFor } from '../functions/public';
import { CommandFailure, EXIT, UsageError, printable, printableWriter, styleFor, writeJson, type CliIo } from './io';
import { LambdaFunctionError } from './lambda';

export type { CliIo } from './io';

/** The package version, for `--version` (support pastes it into tickets). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const EPILOG = `
Configuration comes from the environment: AWS credentials and region, plus the stage's outputs
(BINARY_BACKENDS_TABLE, BINARY_BACKENDS_STATE_MACHINE_ARN, BINARY_BACKENDS_STARTER_FUNCTION,
BINARY_BACKENDS_SIGNER_FUNCTION, BINARY_BACKENDS_DEACTIVATE_FUNCTION, BINARY_BACKENDS_SECRET_PREFIX).
Local stack: npm start, then in another shell: set -a; . .local/aws.env; set +a
Exit codes: 0 ok, 1 failure, 2 bad usage.`;

/**
 * Runs one CLI invocation. Never throws; never calls process.exit. Everything it prints goes through
 * `printable` (cli/io.ts): values when they are rendered, and every chunk again on its way out.
 */
export async function runCli(argv: string[], rawIo: CliIo): Promise<number> {
  const io: CliIo = { ...rawIo, stdout: printableWriter(rawIo.stdout), stderr: printableWriter(rawIo.stderr) };
  let code: number = EXIT.ok;
  let json = false;
  const program = new Command('binary-backends')
    .description('Onboard and operate custom binary backends (customer S3 buckets, optionally CloudFront) for Peridio orgs.')
    .addHelpText('after', EPILOG)
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  const run =
    <F extends { json?: boolean }>(fn: (flags: F, io: CliIo) => Promise<number>) =>
    async (flags: F) => {
      json = Boolean(flags.json);
      code = await fn(flags, io);
    };

  program
    .command('onboard')
    .description("Start onboarding an org's own S3 bucket (optionally with CloudFront) and print the trust policy for the customer")
    .option('--org <id>', "the org's UUID (lowercase)")
    .option('--role-name <name>', 'short name of this backend in Peridio, 1-10 characters')
    .option('--bucket <bucket>', "the customer's S3 bucket")
    .option('--region <region>', "the bucket's region, like eu-west-1")
    .option('--role-arn <arn>', "the customer's IAM role ARN that Peridio assumes")
    .option('--cloudfront-host <host>', 'CloudFront domain for downloads, like d1234567890.cloudfront.net')
    .option('--key-pair-id <id>', 'CloudFront public key ID, like K2JCJMDEHXQW5F (not the key group ID)')
    .option('--private-key-file <file>', 'PEM file with the CloudFront private key (RSA 2048 or EC P-256); stored in Secrets Manager')
    .option('--ttl <seconds>', 'CloudFront download URL lifetime (60-604800)')
    .addOption(new Option('--hash-algorithm <alg>', 'CloudFront signature hash').choices(['SHA1', 'SHA256']))
    .option('--follow', 'show live progress until the workflow ends')
    .option('--json', 'machine-readable output')
    .action(run(async (f, io2) => (await import('./commands/onboard')).onboard(f, io2)));

  program
    .command('trust-policy')
    .description('Print the exact trust policy JSON the customer applies to their role')
    .option('--org <id>', "the org's UUID")
    .option('--role-name <name>', 'the backend name')
    .option('--json', 'machine-readable output (policy, platform role, instructions)')
    .action(run(async (f, io2) => (await import('./commands/records-view')).trustPolicy(f, io2)));

  program
    .command('status')
    .description("Each backend of the org: status, checks with fixes, and which one is active")
    .option('--org <id>', "the org's UUID")
    .option('--json', 'machine-readable output')
    .action(run(async (f, io2) => (await import('./commands/records-view')).status(f, io2)));

  program
    .command('history')
    .description("Operators: the org's onboarding executions as a timeline, with errors and their remediation")
    .option('--org <id>', "the org's UUID")
    .option('--role-name <name>', 'only this backend')
    .option('--follow', 'then show live progress of the newest running execution until it ends (not with --json)')
    .option('--json', 'machine-readable output')
    .action(run(async (f, io2) => (await import('./commands/history')).history(f, io2)));

  program
    .command('sign')
    .description('Sign download (or --upload) URLs through the signing Lambda, as an internal service would')
    .option('--org <id>', "the org's UUID")
    .option('--key <key>', 'object key relative to the org (repeatable)', collect)
    .option('--upload', 'sign upload (PUT) URLs instead of downloads')
    .option('--ttl <seconds>', 'requested URL lifetime; expiresAt says what you really get')
    .option('--location <loc>', 'download from this storage location (what the upload answered); default: the current route')
    .option('--json', 'machine-readable output')
    .action(run(async (f, io2) => (await import('./commands/sign')).sign(f, io2)));

  program
    .command('deactivate')
    .description("Switch the org back to Peridio's default storage")
    .option('--org <id>', "the org's UUID")
    .option('--confirm', 'required: confirms the switch')
    .option('--json', 'machine-readable output')
    .action(run(async (f, io2) => (await import('./commands/sign')).deactivate(f, io2)));

  program
    .command('offboard')
    .description('Disconnect retired configs of a backend for good: platform role, CloudFront keys (docs/locations.md)')
    .option('--org <id>', "the org's UUID")
    .option('--backend <name>', 'the backend name (its role name, as in binary-backends status)')
    .option('--config-version <n>', 'only this config; default: every retired config of the backend')
    .option('--reason <text>', 'why, recorded with the offboarding (at most 500 characters)')
    .option('--dry-run', 'print exactly what would be removed; change nothing')
    .option('--yes', 'do not ask (required when stdin is not a terminal)')
    .option('--json', 'machine-readable output')
    .action(run(async (f, io2) => (await import('./commands/offboard')).offboard(f, io2)));

  program
    .command('smoke')
    .description('After a deploy: invoke every function of the stage in its harmless smoke mode; PASS/FAIL per function with the failing action')
    .option('--stage <stage>', 'the stage given to osls deploy (the local stack is "local")')
    .option('--json', 'machine-readable output')
    .action(run(async (f, io2) => (await import('./commands/smoke')).smoke(f, io2)));

  program
    .command('approve')
    .description('As a second person, approve an onboarding that waits for approval (an active org changing storage)')
    .argument('[execution]', 'the execution name (binary-backends status shows it) or ARN')
    .option('--json', 'machine-readable output')
    .action(async (execution: string | undefined, f: { json?: boolean }) => {
      json = Boolean(f.json);
      code = await (await import('./commands/approve')).decide('approve', execution, f, io);
    });

  program
    .command('reject')
    .description('As a second person, reject an onboarding that waits for approval; the serving config keeps serving')
    .argument('[execution]', 'the execution name (binary-backends status shows it) or ARN')
    .option('--reason <text>', 'why, recorded with the decision (at most 500 characters)')
    .option('--json', 'machine-readable output')
    .action(async (execution: string | undefined, f: { reason?: string; json?: boolean }) => {
      json = Boolean(f.json);
      code = await (await import('./commands/approve')).decide('reject', execution, f, io);
    });

  program
    .command('local')
    .description('Run the whole system on this machine in the foreground until Ctrl-C (writes .local/aws.env)')
    .action(run(async (_f: { json?: boolean }, io2) => (await import('./commands/local')).local(io2)));

  program
    .command('demo')
    .description('The whole story on the local stack: onboard, trust, activate, upload and download')
    .option('--json', 'print a machine-readable summary instead')
    .action(run(async (f: { json?: boolean }, io2) => (await import('./commands/demo')).runDemo({ json: Boolean(f.json) }, io2, runCli)));

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    return reportError(err, io, json);
  }
}

function reportError(err: unknown, io: CliIo, json: boolean): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
    if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    // commander has printed its message (unknown option, missing argument, bad choice) already.
    return EXIT.usage;
  }
  const style = styleFor(io);
  let name: string;
  let message: string;
  let remediation: string | undefined;
  let exit: number;
  if (err instanceof UsageError) {
    name = 'UsageError';
    message = err.message;
    exit = EXIT.usage;
  } else if (err instanceof LambdaFunctionError) {
    name = err.errorType;
    message = err.errorMessage;
    remediation = err.remediation;
    exit = err.errorType === 'ValidationError' ? EXIT.usage : EXIT.failure;
  } else if (err instanceof CommandFailure) {
    name = err.errorName ?? 'Error';
    message = err.message;
    remediation = err.remediation;
    exit = EXIT.failure;
  } else {
    const e = err as Error & { code?: string };
    name = e?.name ?? 'Error';
    message = e?.message ?? String(err);
    if (['ECONNREFUSED', 'ENOTFOUND', 'TimeoutError'].includes(e?.code ?? e?.name ?? '') || /ECONNREFUSED/.test(message)) {
      remediation =
        'Could not reach AWS at the configured endpoint. For the local stack, is `npm start` running and .local/aws.env loaded?';
    } else if (
      /credential/i.test(name) ||
      /credential/i.test(message) ||
      ['UnrecognizedClientException', 'InvalidClientTokenId', 'ExpiredToken', 'ExpiredTokenException', 'InvalidSignatureException', 'SignatureDoesNotMatch'].includes(name)
    ) {
      remediation =
        'Check the AWS credentials for this stage (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or SSO: `aws sso login`). ' +
        'For the local stack, load .local/aws.env from the stack that is running now.';
    } else if (name === 'ResourceNotFoundException' || name === 'StateMachineDoesNotExist' || name === 'ExecutionDoesNotExist') {
      remediation =
        'A configured resource does not exist: check that the BINARY_BACKENDS_* variables belong to this stage and region ' +
        '(eval "$(deploy/stack-env.sh <stage> <region>)", or reload .local/aws.env).';
    } else if (/AccessDenied/.test(name)) {
      remediation =
        "Your identity lacks a permission: attach the stack's SupportPolicyArn (support) or OperatorsPolicyArn (operators) output policy.";
    } else if (name !== 'Error') {
      remediation = remediationFor(name) === remediationFor('Unknown') ? undefined : remediationFor(name);
    }
    exit = EXIT.failure;
  }
  // Messages echo what was typed (`--ttl <PEM>`) or what a service answered: never print them raw.
  name = printable(name);
  message = printable(message, { multiline: true });
  remediation = remediation === undefined ? undefined : printable(remediation, { multiline: true });
  if (json) writeJson(io, { error: { name, message, ...(remediation ? { remediation } : {}) }, exitCode: exit });
  io.stderr.write(
    `${style.paint('red', 'error')}: ${name === 'UsageError' || name === 'Error' ? '' : `${style.paint('bold', name)}: `}${message}\n` +
      (remediation ? `${style.paint('yellow', 'fix')}: ${remediation}\n` : ''),
  );
  return exit;
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** Runs the CLI on this process's argv, environment and streams, and exits with its code. */
export async function main(argv = process.argv.slice(2)): Promise<never> {
  const code = await runCli(argv, {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: Boolean(process.stdout.isTTY),
    stdinIsTTY: Boolean(process.stdin.isTTY),
    ask: async (question) => {
      const { createInterface } = await import('node:readline/promises');
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
    columns: process.stdout.columns,
    onInterrupt: (message) => {
      const onSigint = () => {
        process.stdout.write(message());
        process.exit(130);
      };
      process.once('SIGINT', onSigint);
      return () => process.off('SIGINT', onSigint);
    },
  });
  process.exit(code);
}

if (isEntryPoint()) {
  void main();
}
