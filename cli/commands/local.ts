/**
 * `binary-backends local` (`npm start`): the local stack in the foreground until Ctrl-C.
 *
 * Ports default to local/stack.ts's DEFAULT_PORTS; `BINARY_BACKENDS_LOCAL_PORTS=random` or
 * `BINARY_BACKENDS_LOCAL_PORTS=s3=5702,sfn=5708` changes them, `BINARY_BACKENDS_LOCAL_ENV_FILE` moves the
 * env file and `BINARY_BACKENDS_LOCAL_WAIT_FOR_TRUST_MS` sets the WaitForTrust pause (default 2000 ms).
 */
import { CommandFailure, EXIT, UsageError, styleFor, table, type CliIo, type ExitCode } from '../io';
import { untilStopped } from '../../local/signals';

const LABELS: Record<string, string> = {
  dynamodb: 'DynamoDB (dynalite)',
  s3: 'S3 (s3rver + front)',
  iam: 'IAM',
  sts: 'STS',
  secretsmanager: 'Secrets Manager',
  eventbridge: 'EventBridge',
  lambda: 'Lambda (Invoke)',
  sfn: 'Step Functions',
  cloudfront: 'CloudFront edge',
  apigateway: 'API Gateway (front door)',
};

/** Parses BINARY_BACKENDS_LOCAL_PORTS. Throws UsageError naming the variable. */
export function parsePorts(value: string | undefined, services: readonly string[]): 'random' | Record<string, number> | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (value.trim() === 'random') return 'random';
  const out: Record<string, number> = {};
  for (const part of value.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*(\d{1,5})\s*$/.exec(part);
    if (!m || !services.includes(m[1]!) || Number(m[2]) > 65535) {
      throw new UsageError(
        `BINARY_BACKENDS_LOCAL_PORTS: expected "random" or service=port pairs like "s3=5702,sfn=5708" with services ${services.join(', ')} (got ${JSON.stringify(part)})`,
      );
    }
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

export async function local(io: CliIo): Promise<ExitCode> {
  const style = styleFor(io);
  const { startLocalStack, SERVICES, DEFAULT_PORTS } = await import('../../local/stack');
  const ports = parsePorts(io.env.BINARY_BACKENDS_LOCAL_PORTS, SERVICES);
  const envFile = io.env.BINARY_BACKENDS_LOCAL_ENV_FILE ?? '.local/aws.env';
  const wait = io.env.BINARY_BACKENDS_LOCAL_WAIT_FOR_TRUST_MS;
  if (wait !== undefined && !/^\d+$/.test(wait)) throw new UsageError(`BINARY_BACKENDS_LOCAL_WAIT_FOR_TRUST_MS: must be whole milliseconds (got ${JSON.stringify(wait)})`);
  let stack: Awaited<ReturnType<typeof startLocalStack>>;
  try {
    stack = await startLocalStack({ ports, envFile, quiet: true, ...(wait ? { waitForTrustMs: Number(wait) } : {}) });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/in use/i.test(message)) {
      throw new CommandFailure(
        message.replace(/ Stop it, or choose other ports:.*$/, ''),
        'PortInUse',
        'Stop the other stack, or choose other ports: BINARY_BACKENDS_LOCAL_PORTS=random npm start ' +
          '(or BINARY_BACKENDS_LOCAL_PORTS=dynamodb=5701,s3=5702,...).',
      );
    }
    throw err;
  }
  try {
    io.stdout.write(
      `${style.paint('bold', 'binary-backends local stack')} on 127.0.0.1 ` +
        `(platform account ${stack.accounts.platform}, customer account ${stack.accounts.customer})\n\n`,
    );
    io.stdout.write(
      table(
        style,
        ['SERVICE', 'PORT', 'ENDPOINT'],
        SERVICES.map((s) => [LABELS[s] ?? s, String(stack.ports[s]) + (stack.ports[s] === DEFAULT_PORTS[s] ? '' : ' *'), stack.endpoints[s]]),
      ),
    );
    if (SERVICES.some((s) => stack.ports[s] !== DEFAULT_PORTS[s])) io.stdout.write('* not the default port\n');
    io.stdout.write(
      `\nEnvironment written to ${envFile}. In another shell:\n` +
        `  set -a; . ${envFile}; set +a\n` +
        `  npx binary-backends status --org 3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a\n` +
        `The customer's credentials are CUSTOMER_AWS_ACCESS_KEY_ID / CUSTOMER_AWS_SECRET_ACCESS_KEY in the same file.\n` +
        `WaitForTrust pauses ${wait ? `${wait} ms` : 'the stack default (2 s)'} here instead of minutes; the records keep the production schedule.\n` +
        `\nCtrl-C stops the stack.\n`,
    );
    await (io.untilStopped ?? untilStopped)();
    io.stdout.write('\nStopping the local stack...\n');
  } finally {
    await stack.stop();
  }
  io.stdout.write('Stopped.\n');
  return EXIT.ok;
}
