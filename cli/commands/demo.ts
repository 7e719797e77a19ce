/**
 * `npm run demo` (`binary-backends demo`): the whole story on the local stack, in one process, through
 * the real CLI (`runCli`, handed in by cli/main.ts so this module does not import it back), so what it
 * prints is what support and operators see.
 *
 *  1. start the local stack (random ports, short waits, env file in a temp dir);
 *  2. as the customer: create two buckets and two roles, with no trust for Peridio yet;
 *  3. as support: onboard org A (S3 downloads) and org B (CloudFront downloads, with a key pair generated
 *     now and registered with the local CloudFront edge);
 *  4. show both workflows waiting for trust;
 *  5. as the customer: apply the trust policies (IAM UpdateAssumeRolePolicy with the customer's own
 *     credentials, retrying on "Invalid principal in policy");
 *  6. follow both onboardings to activation;
 *  7. as an internal service: sign an upload URL and upload a binary through it, then sign download URLs
 *     and download it (S3 presigned for A, CloudFront signed for B), comparing the bytes; and download the
 *     binary org A uploaded to default storage during the configuration gap (step 4) through the location
 *     its upload answered (`default`), which still works after activation (docs/locations.md);
 *  8. print the operator's timeline, and exit 0.
 *
 * `--json` prints a machine-readable summary instead of the story.
 */
import { generateKeyPairSync, randomBytes, createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, type BucketLocationConstraint } from '@aws-sdk/client-s3';
import { CreateRoleCommand, PutRolePolicyCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import { AwsClients } from '../aws';
import { styleFor, humanDuration, writeJson, type CliIo } from '../io';
import type { OnboardResult } from './onboard';
import type { SignResult } from './sign';
import type { StatusResult } from './records-view';
import type { HistoryResult } from './history';
import '../../local/polyfills';
import { startLocalStack } from '../../local/stack';

const ORG_A = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
const ORG_B = '8d0e6b1f-2c4a-4e9b-a7f3-5b9c1d2e3f40';
const BINARY_KEY = 'firmware/acme-sensor-1.2.3.fw';
/** Published for org A during its configuration gap, so it lands in default storage. */
const GAP_KEY = 'firmware/acme-sensor-1.2.2.fw';
/** WaitForTrust's pause on the local stack (production: minutes, growing with time). */
const WAIT_FOR_TRUST_MS = 1000;

/**
 * Sends what the in-process functions print (CloudWatch embedded-metric lines, Powertools log lines, and
 * anything through `console`) to `sink` instead of the terminal, where it would interleave with the
 * story and break `--json`. The functions write JSON lines straight to process.stdout, so those are
 * recognised by shape: a chunk that is one JSON object with `_aws` (EMF) or `level` (Powertools).
 * Returns the function that restores everything.
 */
function captureFunctionOutput(sink: string[]): () => void {
  const original = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };
  const keep = (...args: unknown[]) => {
    sink.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  };
  Object.assign(console, { log: keep, info: keep, warn: keep, error: keep, debug: keep });
  const restores = [process.stdout, process.stderr].map((stream) => {
    const write = stream.write;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      if (typeof chunk === 'string' && /^\{"(_aws|level)":/.test(chunk)) {
        sink.push(chunk.trimEnd());
        return true;
      }
      return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof stream.write;
    return () => {
      stream.write = write;
    };
  });
  return () => {
    Object.assign(console, original);
    for (const restore of restores) restore();
  };
}

interface Backend {
  label: string;
  orgId: string;
  roleName: string;
  bucket: string;
  region: string;
  customerRoleName: string;
  roleArn: string;
  cloudFront?: { host: string; keyPairId: string; privateKeyFile: string };
}

export interface DemoSummary {
  ok: boolean;
  durationMs: number;
  backends: {
    orgId: string;
    roleName: string;
    downloadVia: 's3' | 'cloudfront';
    executionArn?: string;
    status?: string;
    trustChecksBeforeTrust?: number;
    upload?: { via: string; location?: string; httpStatus: number; bytes: number };
    download?: { via: string; httpStatus: number; bytes: number; sha256: string; bytesMatch: boolean; unsignedStatus?: number };
  }[];
  /**
   * A binary uploaded to default storage during org A's configuration gap (before activation), downloaded
   * after activation through the location its upload answered.
   */
  gapUpload?: { orgId: string; key: string; location: string; uploadStatus: number; downloadLocation?: string; downloadStatus?: number; bytesMatch?: boolean };
  error?: string;
}

/** The seed's bucket policy for the customer's role. */
function bucketPolicy(bucket: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:ListBucket'],
        Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
      },
    ],
  });
}

export interface DemoOptions {
  json: boolean;
  /** WaitForTrust's pause; default WAIT_FOR_TRUST_MS. Tests shorten it. */
  waitForTrustMs?: number;
}

/** cli/main.ts's `runCli`: the demo drives the real CLI, which passes itself in (no import back to main). */
export type RunCli = (argv: string[], io: CliIo) => Promise<number>;

export async function runDemo(opts: DemoOptions, io: CliIo, runCli: RunCli): Promise<number> {
  const waitForTrustMs = opts.waitForTrustMs ?? WAIT_FOR_TRUST_MS;
  const started = Date.now();
  const style = styleFor(io);
  const say = (s: string) => {
    if (!opts.json) io.stdout.write(s);
  };
  const step = (n: number, title: string) =>
    say(`\n${style.paint('magenta', style.paint('bold', `── ${n}. ${title}`))} ${style.paint('gray', `(+${((Date.now() - started) / 1000).toFixed(1)} s)`)}\n`);
  const summary: DemoSummary = { ok: false, durationMs: 0, backends: [] };

  const dir = await mkdtemp(path.join(tmpdir(), 'binary-backends-demo-'));
  step(1, 'Start the local stack');
  // The functions run in this process. In AWS their logs and metrics go to CloudWatch; here they would
  // interleave with the story (and break --json), so they go to a log file in the demo's temp dir.
  const functionLog: string[] = [];
  const restoreConsole = captureFunctionOutput(functionLog);
  const stack = await startLocalStack({
    ports: 'random',
    envFile: path.join(dir, 'aws.env'),
    waitForTrustMs,
    retryIntervalMs: 50,
    quiet: true,
    // The signer caches each org's route (CONFIG_CACHE_TTL_SECONDS, 30 s in production). Step 4 signs for
    // org A before its activation, so with 30 s step 7 would still be routed to default storage; 1 s keeps
    // the story short (step 7 also waits, quietly, until the signer routes each org to its backend).
    functionEnv: { POWERTOOLS_LOG_LEVEL: 'WARN', CONFIG_CACHE_TTL_SECONDS: '1' },
  });
  // What the CLI reads: the env file's contents (which include the stack's shortened wait, for --follow).
  const env: Record<string, string> = { ...stack.env };
  say(`Local stack up in ${humanDuration(Date.now() - started)}; environment in ${path.join(dir, 'aws.env')}.\n`);

  /** Runs the real CLI, printing the command line and its output (unless --json), and returns the result. */
  async function cli<T>(argv: string[], quiet = false, watch?: (chunk: string) => void): Promise<T | undefined> {
    const silent = opts.json || quiet;
    if (!silent) say(`\n${style.paint('gray', '$')} ${style.paint('bold', `binary-backends ${argv.map(quote).join(' ')}`)}\n`);
    let result: T | undefined;
    const code = await runCli(argv, {
      ...io,
      env,
      stdout: {
        write: (chunk: string) => {
          watch?.(chunk);
          if (!silent) io.stdout.write(chunk);
        },
      },
      stderr: silent ? { write: () => undefined } : io.stderr,
      pollIntervalMs: 100,
      onResult: (_cmd, r) => {
        result = r as T;
      },
    });
    if (code !== 0) throw new Error(`binary-backends ${argv[0]} exited ${code}`);
    return result;
  }

  const customerEnv = { ...env, AWS_ACCESS_KEY_ID: env.CUSTOMER_AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.CUSTOMER_AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: undefined };
  const customer = new AwsClients(customerEnv);
  try {
    const account = env.CUSTOMER_ACCOUNT_ID!;
    const backends: Backend[] = [
      { label: 'Acme (S3 downloads)', orgId: ORG_A, roleName: 'prod', bucket: 'acme-firmware', region: 'eu-west-1', customerRoleName: 'PeridioBinaries', roleArn: '' },
      { label: 'Globex (CloudFront downloads)', orgId: ORG_B, roleName: 'cdn', bucket: 'globex-binaries', region: 'us-west-2', customerRoleName: 'PeridioCdn', roleArn: '' },
    ];
    for (const b of backends) b.roleArn = `arn:aws:iam::${account}:role/${b.customerRoleName}`;

    step(2, `As the customer (account ${account}): create the buckets and roles, with no trust for Peridio yet`);
    for (const b of backends) {
      await customer.s3(b.region).send(
        new CreateBucketCommand({
          Bucket: b.bucket,
          ...(b.region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: b.region as BucketLocationConstraint } }),
        }),
      );
      await customer.iam.send(
        new CreateRoleCommand({
          RoleName: b.customerRoleName,
          // The seed's step 2: "This account" as the trusted entity, to be replaced by Peridio's policy.
          AssumeRolePolicyDocument: JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole' }],
          }),
        }),
      );
      await customer.iam.send(new PutRolePolicyCommand({ RoleName: b.customerRoleName, PolicyName: 'PeridioBinaries', PolicyDocument: bucketPolicy(b.bucket) }));
      say(`  bucket s3://${b.bucket} (${b.region}), role ${b.roleArn} with the guide's bucket policy\n`);
    }
    const cdn = backends[1]!;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = path.join(dir, 'cloudfront-private-key.pem');
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    // What the customer does in the CloudFront console: upload the public key, put it in the trusted key
    // group of a distribution whose origin is the bucket, and require signed URLs.
    const keyPairId = `K${randomBytes(8).toString('hex').toUpperCase()}`;
    const distribution = stack.registerDistribution({
      publicKeys: [{ id: keyPairId, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string }],
      bucket: cdn.bucket,
      requireSignedUrls: true,
    });
    cdn.cloudFront = { host: env.BINARY_BACKENDS_CLOUDFRONT_EDGE!, keyPairId, privateKeyFile: keyFile };
    say(
      `  CloudFront: a new RSA 2048 key pair; public key ${keyPairId} trusted by distribution ${distribution.id} ` +
        `(origin ${cdn.bucket}, signed URLs required), served locally at ${cdn.cloudFront.host}\n`,
    );

    step(3, 'As support: onboard both backends from what the customers sent');
    const onboardArgs = (b: Backend) => [
      'onboard',
      '--org', b.orgId,
      '--role-name', b.roleName,
      '--bucket', b.bucket,
      '--region', b.region,
      '--role-arn', b.roleArn,
      ...(b.cloudFront
        ? ['--cloudfront-host', b.cloudFront.host, '--key-pair-id', b.cloudFront.keyPairId, '--private-key-file', b.cloudFront.privateKeyFile]
        : []),
    ];
    const onboarded = new Map<string, OnboardResult>();
    for (const b of backends) {
      const r = await cli<OnboardResult>(onboardArgs(b));
      if (!r?.trustPolicy) throw new Error(`no trust policy for ${b.label}`);
      onboarded.set(b.orgId, r);
    }

    step(4, 'The workflows wait for the customer: CheckTrust keeps getting AccessDenied');
    // Wait (with a deadline, not a fixed sleep) until CheckTrust has been refused at least twice.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const s = await cli<StatusResult>(['status', '--org', ORG_A], true);
      const attempts = s?.backends[0]?.pending?.attempts ?? 0;
      if (attempts >= 2 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await cli(['status', '--org', ORG_A]);
    // Meanwhile Peridio keeps using default storage (the seed's promise): a release published during the gap
    // lands there, and the upload's answer says so (`location default`).
    say(style.paint('gray', '  (meanwhile an internal service publishes a release for org A: it lands in default storage)\n'));
    const gapBinary = randomBytes(64 * 1024);
    const gapUp = await cli<SignResult>(['sign', '--org', ORG_A, '--key', GAP_KEY, '--upload']);
    const gapUrl = gapUp!.urls[0]!;
    const gapPut = await fetch(gapUrl.url, { method: 'PUT', headers: gapUrl.headers ?? {}, body: gapBinary });
    await gapPut.arrayBuffer();
    summary.gapUpload = { orgId: ORG_A, key: GAP_KEY, location: gapUp!.location ?? '(none)', uploadStatus: gapPut.status };
    say(`  PUT through the signed URL: HTTP ${gapPut.status}; the service keeps location ${style.paint('bold', gapUp!.location ?? '(none)')} with the binary\n`);
    if (!gapPut.ok) throw new Error(`upload during the gap failed with HTTP ${gapPut.status}`);

    step(5, 'Support follows each onboarding while the customer applies the trust policy (IAM UpdateAssumeRolePolicy)');
    say(style.paint('gray', '  (the second submit of the same request shows the running execution and follows it)\n'));
    for (const b of backends) {
      // Follow first, so the double submit lands while the workflow is certainly waiting for trust.
      const attached = deferred();
      const following = cli<OnboardResult>([...onboardArgs(b), '--follow'], false, (chunk) => {
        if (chunk.includes('Following')) attached.resolve();
      });
      await Promise.race([attached.promise, following]);
      const policy = JSON.stringify(onboarded.get(b.orgId)!.trustPolicy);
      const attempts = await applyTrustPolicy(customer, b.customerRoleName, policy);
      say(
        `${style.colour ? '\r\u001b[K' : ''}  ${style.paint('blue', '[customer]')} applied the trust policy to ${b.roleArn}` +
          `${attempts > 1 ? ` (after ${attempts - 1} "Invalid principal in policy" answer(s), as the instructions warn)` : ''}\n`,
      );
      const r = await following;
      summary.backends.push({
        orgId: b.orgId,
        roleName: b.roleName,
        downloadVia: b.cloudFront ? 'cloudfront' : 's3',
        executionArn: r?.executionArn,
        status: r?.status,
      });
      if (r?.final?.executionStatus !== 'SUCCEEDED') throw new Error(`${b.label} did not activate: ${r?.final?.error?.name ?? r?.final?.executionStatus}`);
    }
    step(6, 'Both backends are active');
    await cli(['status', '--org', ORG_B]);

    step(7, 'As an internal service: upload a binary through a signed URL, then download it through the device URL');
    const binary = randomBytes(256 * 1024);
    const sha256 = createHash('sha256').update(binary).digest('hex');
    say(`  the binary: ${BINARY_KEY}, ${binary.length} bytes, sha256 ${sha256.slice(0, 16)}…\n`);
    for (const [i, b] of backends.entries()) {
      const entry = summary.backends[i]!;
      // Warm signers see the activation within their config cache TTL (1 s on this stack): wait for it.
      const routed = Date.now() + 10_000;
      while ((await cli<SignResult>(['sign', '--org', b.orgId, '--key', BINARY_KEY, '--upload'], true))?.storage !== 'custom') {
        if (Date.now() > routed) throw new Error(`the signer still routes ${b.label} to default storage`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const up = await cli<SignResult>(['sign', '--org', b.orgId, '--key', BINARY_KEY, '--upload']);
      const u = up!.urls[0]!;
      const put = await fetch(u.url, { method: 'PUT', headers: u.headers ?? {}, body: binary });
      await put.arrayBuffer();
      entry.upload = { via: up!.via, location: up!.location, httpStatus: put.status, bytes: binary.length };
      say(`  PUT through the signed URL: HTTP ${put.status}\n`);
      if (!put.ok) throw new Error(`upload through the signed URL failed with HTTP ${put.status}`);

      const down = await cli<SignResult>(['sign', '--org', b.orgId, '--key', BINARY_KEY]);
      const d = down!.urls[0]!;
      const get = await fetch(d.url, { headers: d.headers ?? {} });
      const got = Buffer.from(await get.arrayBuffer());
      const match = get.ok && got.equals(binary);
      entry.download = { via: down!.via, httpStatus: get.status, bytes: got.length, sha256: createHash('sha256').update(got).digest('hex'), bytesMatch: match };
      say(`  GET through the ${down!.via === 'cloudfront' ? 'CloudFront signed' : 'S3 presigned'} URL: HTTP ${get.status}, ${got.length} bytes, ${match ? style.paint('green', 'identical to what was uploaded') : style.paint('red', 'DIFFERENT')}\n`);
      if (!match) throw new Error(`download through ${down!.via} did not return the uploaded bytes`);
      if (down!.via === 'cloudfront') {
        const unsigned = await fetch(d.url.split('?')[0]!);
        await unsigned.arrayBuffer();
        entry.download.unsignedStatus = unsigned.status;
        say(`  the same object without a signature: HTTP ${unsigned.status} (signed URLs are enforced)\n`);
      }
    }

    // The release published during the gap is not in the customer's bucket, but its location still names
    // where it lives: the download URL is signed for default storage, whatever the current route.
    say(`\n  and the release published during the gap, after activation, through the location its upload answered:\n`);
    const gapDown = await cli<SignResult>(['sign', '--org', ORG_A, '--key', GAP_KEY, '--location', summary.gapUpload.location]);
    const gd = gapDown!.urls[0]!;
    const gapGet = await fetch(gd.url, { headers: gd.headers ?? {} });
    const gapGot = Buffer.from(await gapGet.arrayBuffer());
    const gapMatch = gapGet.ok && gapGot.equals(gapBinary);
    Object.assign(summary.gapUpload, { downloadLocation: gapDown!.location, downloadStatus: gapGet.status, bytesMatch: gapMatch });
    say(`  GET: HTTP ${gapGet.status}, ${gapGot.length} bytes, ${gapMatch ? style.paint('green', 'identical to what was uploaded during the gap') : style.paint('red', 'DIFFERENT')}\n`);
    if (!gapMatch) throw new Error(`the binary uploaded during the gap did not download through location ${summary.gapUpload.location}`);

    step(8, "As an operator: the onboarding timeline");
    for (const b of backends) {
      const h = await cli<HistoryResult>(['history', '--org', b.orgId]);
      const loop = h?.executions[0]?.timeline.find((t) => t.kind === 'trust-loop');
      if (loop && loop.kind === 'trust-loop') summary.backends.find((x) => x.orgId === b.orgId)!.trustChecksBeforeTrust = loop.checks - 1;
    }

    summary.ok = true;
  } catch (err) {
    summary.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } finally {
    customer.destroy();
    await stack.stop();
    restoreConsole();
    if (!summary.ok && functionLog.length > 0) {
      io.stderr.write(`\nThe functions' log (what CloudWatch Logs would hold), last lines:\n${functionLog.slice(-20).join('\n')}\n`);
    }
    await rm(dir, { recursive: true, force: true });
  }
  summary.durationMs = Date.now() - started;
  if (opts.json) {
    writeJson(io, summary);
  } else if (summary.ok) {
    say(`\n${style.paint('green', '✔')} Demo complete in ${humanDuration(summary.durationMs)}: both backends onboarded, binaries uploaded and downloaded byte for byte.\n`);
  } else {
    io.stderr.write(`\n${style.paint('red', '✘')} Demo failed after ${humanDuration(summary.durationMs)}: ${summary.error}\n`);
  }
  return summary.ok ? 0 : 1;
}

/**
 * What the customer does in the console, through the API: IAM answers "Invalid principal in policy"
 * until the principal (Peridio's new platform role) is visible to it, so retry for a while.
 */
async function applyTrustPolicy(customer: AwsClients, roleName: string, policy: string): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await customer.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: roleName, PolicyDocument: policy }));
      return attempt;
    } catch (err) {
      const invalidPrincipal = /^MalformedPolicyDocument/.test((err as Error).name) && /Invalid principal/i.test((err as Error).message);
      if (!invalidPrincipal || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}
