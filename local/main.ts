/**
 * The local stack in the foreground: `npx tsx local/main.ts [--ports random] [--env-path F]
 * [--wait-for-trust-ms N]`. (`npm start` runs the CLI's `binary-backends local`, which does the same
 * through the CLI.) Stops cleanly on SIGINT/SIGTERM.
 */
import './polyfills';
import { DEFAULT_PORTS, SERVICES, startLocalStack, type LocalStackOptions } from './stack';
import { untilStopped } from './signals';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const opts: LocalStackOptions = { quiet: true };
  if (arg('--ports') === 'random') opts.ports = 'random';
  const envFile = arg('--env-path');
  if (envFile) opts.envFile = envFile;
  const wait = arg('--wait-for-trust-ms');
  if (wait) opts.waitForTrustMs = Number(wait);
  const stack = await startLocalStack(opts);
  const width = Math.max(...SERVICES.map((s) => s.length));
  process.stdout.write('binary-backends local stack on 127.0.0.1\n');
  for (const s of SERVICES) {
    process.stdout.write(`  ${s.padEnd(width)}  ${stack.endpoints[s]}${stack.ports[s] === DEFAULT_PORTS[s] ? '' : '  (not the default port)'}\n`);
  }
  process.stdout.write(`env file: ${stack.envFile ?? '(not written)'}  —  load it with: set -a; . ${stack.envFile ?? '.local/aws.env'}; set +a\n`);
  process.stdout.write('Ctrl-C stops the stack.\n');
  await untilStopped();
  process.stdout.write('stopping...\n');
  await stack.stop();
  process.stdout.write('stopped.\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`local stack failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
