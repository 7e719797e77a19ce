/**
 * `npm run bench` (or `npx tsx bench/signer.bench.ts`): the URL signer's hot path and cold start.
 *
 * Every target is a ratio against a baseline measured in the same run (absolute times on this shared
 * machine swing two- to three-fold between runs). Equal-length blocks of the candidate and its baseline
 * alternate (see `race`), and each figure is the median of its blocks. Exits 1 when a target is missed.
 *
 * Targets (issue 3):
 * - S3 presign, hot: >= 10x faster per URL than @aws-sdk/s3-request-presigner getSignedUrl.
 * - CloudFront, hot: >= 0.9x the throughput of raw crypto.sign with a cached KeyObject (the RSA limit),
 *   and >= 1.6x @aws-sdk/cloudfront-signer, for the per-URL signing step (cloudFrontUrl with the cached
 *   key); the whole signer's per-URL figure in 40-key batches is reported beside it.
 * - The S3 target is checked both for presignS3Url and for the whole signer in 40-key batches.
 * - 1000-URL batches for one org, hot: 0 GetItem / AssumeRole / GetSecretValue per 10,000 URLs; over a
 *   simulated hour, only the calls cache expiry explains.
 * - Cold start (issue 12.9): the esbuild-bundled, minified signer is at most 200 KB, and its module init
 *   at most 50 ms, judged as >= 2.8x (140 ms / 50 ms) faster than the signer as it was before 12.9 (with an
 *   S3Client and the DynamoDB, STS and Secrets Manager SDK clients), rebuilt in the same run.
 * - CloudFront with an EC P-256 key: >= 8x faster per URL than with an RSA-2048 key (issue 12.9).
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { getSignedUrl as cloudFrontSignerGetSignedUrl } from '@aws-sdk/cloudfront-signer';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { getSignedUrl as s3PresignerGetSignedUrl } from '@aws-sdk/s3-request-presigner';
import { mockClient } from 'aws-sdk-client-mock';
import { build } from 'esbuild';
import { buildOptions } from '../deploy/esbuild-options.cjs';
import type { DownloadConfig, OrgRecord } from '#shared/records/model';
import type { LocationRecord } from '#shared/records/location-read';
import type { AwsCredentials } from '#shared/credential-broker';
import { cannedPolicy, cloudFrontUrl, presignS3Url, unsignedCloudFrontUrl } from '#shared/url-signers';
import { createUrlSigner, type SignerDeps } from '../functions/signing/sign-url';
import { sdkSignerDeps } from '../test/unit/helpers/sdk-signer-deps';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
delete process.env.AWS_ENDPOINT_URL_S3;
delete process.env.AWS_ENDPOINT_URL;

const here = dirname(fileURLToPath(import.meta.url));
const results: { name: string; value: string; target?: string; ok?: boolean }[] = [];
let failed = false;

function record(name: string, value: string, target?: string, ok?: boolean): void {
  results.push({ name, value, target, ok });
  if (ok === false) failed = true;
}

function fmtUs(ns: number): string {
  return `${(ns / 1000).toFixed(1)} µs`;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
}

function median(xs: number[]): number {
  return percentile(xs, 0.5);
}

/**
 * Interleaved per-operation timing. Each iteration calls every candidate once, in turn, and times each
 * call; each figure is the 10th percentile over all iterations. This shared two-core machine often runs
 * at a load of 10+, so most samples include time we were preempted; the low percentile is the cost
 * without that interference (a median is dominated by it), and interleaving makes load drift hit every
 * candidate alike. Candidates being compared take similar time per call (e.g. a 10-key batch against a
 * block of 10 raw signatures), so both are equally exposed.
 */
async function race(candidates: Record<string, () => unknown>, iterations: number): Promise<Record<string, number>> {
  const names = Object.keys(candidates);
  const samples: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (let i = 0; i < Math.max(10, iterations / 10); i++) for (const name of names) await candidates[name]!(); // warm-up
  for (let i = 0; i < iterations; i++) {
    for (const name of names) {
      const op = candidates[name]!;
      const t0 = performance.now();
      await op();
      samples[name]!.push((performance.now() - t0) * 1e6);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, percentile(v, 0.1)]));
}

/**
 * Runs a synchronous `op` `times` times, without an `await` per call: for comparing synchronous steps (the EC
 * and RSA CloudFront URLs), where an await per URL would be measured as part of the cheaper candidate's cost
 * (it made the EC/RSA ratio swing 7.6-9.2x between runs on this loaded machine, against 9.3x steadily without).
 */
function syncBlock(times: number, op: () => unknown): () => void {
  return () => {
    for (let j = 0; j < times; j++) op();
  };
}

/** Runs `op` `times` times: a block comparable in length to a batch of that many URLs. */
function block(times: number, op: () => unknown): () => Promise<void> {
  return async () => {
    for (let j = 0; j < times; j++) await op();
  };
}

// ---------------------------------------------------------------------------------------------
// Fixtures: a custom-backend org and a CloudFront org, with STS, DynamoDB and Secrets Manager faked.
// ---------------------------------------------------------------------------------------------

const ORG_S3 = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
const ORG_CF = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6b';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const credentials: AwsCredentials = {
  accessKeyId: 'ASIAEXAMPLEEXAMPLE00',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjE'.padEnd(900, 'x'), // real session tokens are ~1 KB
  expiration: new Date(Date.now() + 3600_000),
};

function orgRecord(orgId: string, download: DownloadConfig): OrgRecord {
  return {
    pk: `ORG#${orgId}`, sk: 'BACKENDS', orgId, active: 'prod', version: 1, updatedAt: '2026-11-01T00:00:00Z',
    backends: {
      prod: {
        roleName: 'prod',
        platformRoleArn: `arn:aws:iam::111111111111:role/binary_backend_${orgId}_prod`,
        lastConfigVersion: 2,
        serving: {
          configVersion: 2, executionArn: 'arn:x', executionName: 'x', status: 'ACTIVE', requestedBy: 'bench',
          startedAt: '2026-11-01T00:00:00Z', trustDeadlineAt: '2026-11-08T00:00:00Z', attempts: 1,
          upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/PeridioBinaries', accountId: '222222222222', prefix: 'peridio/' },
          download, checks: [], createdAt: '2026-11-01T00:00:00Z', updatedAt: '2026-11-01T00:00:00Z',
        },
      },
    },
  };
}

const records: Record<string, OrgRecord> = {
  [`ORG#${ORG_S3}`]: orgRecord(ORG_S3, { type: 's3' }),
  [`ORG#${ORG_CF}`]: orgRecord(ORG_CF, {
    type: 'cloudfront', host: 'd111111abcdef8.cloudfront.net', keyPairId: 'K2JCJMDEHXQW5F', hashAlgorithm: 'SHA1',
    privateKeySecretArn: 'arn:aws:secretsmanager:us-east-1:111111111111:secret:cf', privateKeySecretVersionId: '0123456789abcdef0123456789abcdef',
  }),
};

let virtualNowMs = Date.now();
const clock = () => new Date(virtualNowMs);
const ddbMock = mockClient(DynamoDBDocumentClient);
const stsMock = mockClient(STSClient);
const secretsMock = mockClient(SecretsManagerClient);
/**
 * ORG_S3's older config (docs/locations.md): re-onboarded from bucket acme-firmware-old (config 1, another
 * customer role) to the serving config 2 above, so `b.prod.1` is a retired location with its own item.
 */
const RETIRED_LOCATION = 'b.prod.1';
const locationItems: Record<string, LocationRecord> = {
  [`ORG#${ORG_S3}|LOCATION#${RETIRED_LOCATION}`]: {
    pk: `ORG#${ORG_S3}`, sk: `LOCATION#${RETIRED_LOCATION}`, orgId: ORG_S3, location: RETIRED_LOCATION, roleName: 'prod', configVersion: 1,
    state: 'retired', retiredReason: 'replaced', replacedBy: 'b.prod.2', executionName: 'x', requestedBy: 'bench',
    platformRoleArn: `arn:aws:iam::111111111111:role/binary_backend_${ORG_S3}_prod`,
    upload: { bucket: 'acme-firmware-old', region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/PeridioBinariesOld', accountId: '222222222222', prefix: 'peridio/' },
    download: { type: 's3' }, activatedAt: '2026-10-01T00:00:00Z', retiredAt: '2026-11-01T00:00:00Z', createdAt: '2026-10-01T00:00:00Z', updatedAt: '2026-11-01T00:00:00Z',
  },
};
ddbMock.on(GetCommand).callsFake((input: { Key: { pk: string; sk: string } }) => ({
  Item: input.Key.sk === 'BACKENDS' ? records[input.Key.pk] : locationItems[`${input.Key.pk}|${input.Key.sk}`],
}));
stsMock.on(AssumeRoleCommand).callsFake(() => ({
  Credentials: {
    AccessKeyId: credentials.accessKeyId, SecretAccessKey: credentials.secretAccessKey, SessionToken: credentials.sessionToken,
    Expiration: new Date(virtualNowMs + 3600_000),
  },
}));
secretsMock.on(GetSecretValueCommand).resolves({ SecretString: rsaPem });

function signerDeps(): SignerDeps {
  return sdkSignerDeps({
    tableName: 'bench',
    clock,
    settings: { defaultBucket: 'peridio-binaries-bench', defaultBucketRegion: 'us-east-1', defaultSignerRoleArn: 'arn:aws:iam::111111111111:role/signer', configCacheTtlSeconds: 30 },
  });
}

const keys1000 = Array.from({ length: 1000 }, (_, i) => `firmware/acme-${i}/image 1.2.${i}.fw`);

// ---------------------------------------------------------------------------------------------
// 1. S3 presign, hot
// ---------------------------------------------------------------------------------------------

async function benchS3(): Promise<void> {
  const now = new Date();
  const sdkClient = new S3Client({ region: 'eu-west-1', credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  let i = 0;
  const signer = createUrlSigner(signerDeps());
  await signer.sign({ orgId: ORG_S3, operation: 'download', keys: ['warm'] });
  const retired = await signer.sign({ orgId: ORG_S3, operation: 'download', keys: ['warm'], location: RETIRED_LOCATION });
  if (!retired.urls[0]!.url.includes('acme-firmware-old') || retired.location !== RETIRED_LOCATION) throw new Error('the retired location did not resolve');
  const warmStats = signer.stats();
  const batch = keys1000.slice(0, 40);
  const sdkOne = () => s3PresignerGetSignedUrl(sdkClient, new GetObjectCommand({ Bucket: 'acme-firmware', Key: `peridio/${keys1000[i++ % 1000]}` }), { expiresIn: 900 });
  const oursOne = () => presignS3Url({ credentials, region: 'eu-west-1', bucket: 'acme-firmware', key: `peridio/${keys1000[i++ % 1000]}`, method: 'GET', expiresInSeconds: 900, now });
  // Blocks of about the same length: 2 SDK presigns ~ 40 presignS3Url ~ a 40-key signer batch.
  const t = await race(
    {
      sdk: block(2, sdkOne),
      presignS3Url: block(40, oursOne),
      signerBatch40: () => signer.sign({ orgId: ORG_S3, operation: 'download', keys: batch }),
      // Issue 11: the same batch for an older (retired) location: location cache + its own credential chain.
      signerBatch40Retired: () => signer.sign({ orgId: ORG_S3, operation: 'download', keys: batch, location: RETIRED_LOCATION }),
    },
    300,
  );
  const raceStats = signer.stats();
  t.sdk! /= 2;
  t.presignS3Url! /= 40;
  const perUrlSigner = t.signerBatch40! / 40;
  record('S3 @aws-sdk/s3-request-presigner getSignedUrl (client built once)', `${fmtUs(t.sdk!)} per URL`);
  record('S3 presignS3Url (@smithy/signature-v4, hot)', `${fmtUs(t.presignS3Url!)} per URL`);
  const r1 = t.sdk! / t.presignS3Url!;
  record('S3 presignS3Url vs SDK presigner', `${r1.toFixed(1)}x faster`, '>= 10x', r1 >= 10);
  const r2 = t.sdk! / perUrlSigner;
  record('S3 whole signer (validate + route + sign), 40-key download batches', `${fmtUs(perUrlSigner)} per URL, ${r2.toFixed(1)}x faster than SDK presigner`, '>= 10x', r2 >= 10);
  const perUrlRetired = t.signerBatch40Retired! / 40;
  record(
    'S3 whole signer, 40-key download batches for an older (retired) location, vs the current route in the same run',
    `${fmtUs(perUrlRetired)} per URL, ${(perUrlRetired / perUrlSigner).toFixed(2)}x the current route's time`,
  );
  const calls = {
    GetItem: raceStats.getItemCalls - warmStats.getItemCalls,
    AssumeRole: raceStats.assumeRoleCalls - warmStats.assumeRoleCalls,
  };
  record(
    'Network calls while signing hot for the current route and a retired location (the race above)',
    `GetItem ${calls.GetItem}, AssumeRole ${calls.AssumeRole}`,
    '0',
    calls.GetItem + calls.AssumeRole === 0,
  );
  sdkClient.destroy();
}

// ---------------------------------------------------------------------------------------------
// 2. CloudFront, hot
// ---------------------------------------------------------------------------------------------

async function benchCloudFront(): Promise<void> {
  const expires = Math.floor(Date.now() / 1000) + 3600;
  const keyPairId = 'K2JCJMDEHXQW5F';
  const host = 'd111111abcdef8.cloudfront.net';
  let i = 0;
  const policies = keys1000.map((k) => Buffer.from(cannedPolicy(unsignedCloudFrontUrl(host, `peridio/${k}`), expires)));
  const urls = keys1000.map((k) => unsignedCloudFrontUrl(host, `peridio/${k}`));
  const dateLessThan = new Date(expires * 1000).toISOString();
  const signer = createUrlSigner(signerDeps());
  await signer.sign({ orgId: ORG_CF, operation: 'download', keys: ['warm'] });
  const rawOne = () => cryptoSign('sha1', policies[i++ % 1000]!, rsa.privateKey);
  const t = await race(
    {
      rawCryptoSign: rawOne,
      cloudFrontUrl: () => cloudFrontUrl({ host, objectPath: `peridio/${keys1000[i++ % 1000]}`, keyPairId, privateKey: rsa.privateKey, hashAlgorithm: 'SHA1', expiresEpochSeconds: expires }),
      sdk: () => cloudFrontSignerGetSignedUrl({ url: urls[i++ % 1000]!, keyPairId, privateKey: rsaPem, dateLessThan }),
    },
    1500,
  );
  // The whole signer (validate, route, sign, build the response), per URL, against raw signing in the
  // same interleaved loop: 40-key batches against blocks of 40 raw signatures.
  const batch40 = keys1000.slice(0, 40);
  const b = await race(
    {
      rawCryptoSign: block(40, rawOne),
      signerBatch40: () => signer.sign({ orgId: ORG_CF, operation: 'download', keys: batch40 }),
    },
    150,
  );
  b.rawCryptoSign! /= 40;
  const perUrlSigner = b.signerBatch40! / 40;
  // EC P-256 against RSA-2048, both through cloudFrontUrl with a cached KeyObject (issue 12.9: >= 8x).
  // Blocks of 8 EC URLs against single RSA URLs keep the timed calls of similar length.
  const ec = await race(
    {
      rsa2048: () => cloudFrontUrl({ host, objectPath: `peridio/${keys1000[i++ % 1000]}`, keyPairId, privateKey: rsa.privateKey, hashAlgorithm: 'SHA1', expiresEpochSeconds: expires }),
      ecP256: syncBlock(8, () => cloudFrontUrl({ host, objectPath: `peridio/${keys1000[i++ % 1000]}`, keyPairId, privateKey: ecKey.privateKey, hashAlgorithm: 'SHA1', expiresEpochSeconds: expires })),
    },
    1000,
  );
  ec.ecP256! /= 8;
  record('CloudFront cloudFrontUrl, RSA-2048 key', `${fmtUs(ec.rsa2048!)} per URL`);
  record('CloudFront cloudFrontUrl, EC P-256 key', `${fmtUs(ec.ecP256!)} per URL`);
  const ecRatio = ec.rsa2048! / ec.ecP256!;
  record('CloudFront EC P-256 vs RSA-2048', `${ecRatio.toFixed(1)}x faster`, '>= 8x', ecRatio >= 8);
  record('CloudFront raw crypto.sign(sha1, RSA-2048 KeyObject)', `${fmtUs(t.rawCryptoSign!)} per signature`);
  record('CloudFront @aws-sdk/cloudfront-signer getSignedUrl (PEM)', `${fmtUs(t.sdk!)} per URL`);
  record('CloudFront cloudFrontUrl (cached KeyObject)', `${fmtUs(t.cloudFrontUrl!)} per URL`);
  const vsRaw = t.rawCryptoSign! / t.cloudFrontUrl!;
  record('CloudFront cloudFrontUrl throughput vs raw crypto.sign', `${vsRaw.toFixed(2)}x`, '>= 0.9x', vsRaw >= 0.9);
  const vsSdk = t.sdk! / t.cloudFrontUrl!;
  record('CloudFront cloudFrontUrl vs @aws-sdk/cloudfront-signer', `${vsSdk.toFixed(2)}x faster`, '>= 1.6x', vsSdk >= 1.6);
  const signerVsRaw = b.rawCryptoSign! / perUrlSigner;
  // Reported, not gated: 12 ms blocks are preempted on this loaded machine often enough that this ratio
  // swings about +-10% run to run; the gated figure is the per-URL signing step above.
  record('CloudFront whole signer, 40-key download batches, vs raw crypto.sign (info)', `${fmtUs(perUrlSigner)} per URL, ${signerVsRaw.toFixed(2)}x`);
}

// ---------------------------------------------------------------------------------------------
// 3. Batches of 1000 S3 download URLs for one org
// ---------------------------------------------------------------------------------------------

async function benchBatches(): Promise<void> {
  virtualNowMs = Date.now();
  const signer = createUrlSigner(signerDeps());
  await signer.sign({ orgId: ORG_S3, operation: 'download', keys: keys1000 }); // warm-up: fills every cache
  const before = signer.stats();
  const times: number[] = [];
  for (let b = 0; b < 10; b++) {
    const t0 = performance.now();
    const out = await signer.sign({ orgId: ORG_S3, operation: 'download', keys: keys1000 });
    times.push(performance.now() - t0);
    if (out.urls.length !== 1000) throw new Error('batch lost URLs');
  }
  const after = signer.stats();
  const calls = {
    GetItem: after.getItemCalls - before.getItemCalls,
    AssumeRole: after.assumeRoleCalls - before.assumeRoleCalls,
    GetSecretValue: after.getSecretValueCalls - before.getSecretValueCalls,
  };
  record(
    'Batch of 1000 S3 download URLs, one org, hot (10 batches)',
    `best ${Math.min(...times).toFixed(1)} ms, median ${median(times).toFixed(1)} ms per batch (median includes preemption on this shared machine)`,
  );
  const total = calls.GetItem + calls.AssumeRole + calls.GetSecretValue;
  record(
    'Network calls per 10,000 URLs in steady state (10 hot batches)',
    `GetItem ${calls.GetItem}, AssumeRole ${calls.AssumeRole}, GetSecretValue ${calls.GetSecretValue}`,
    '0',
    total === 0,
  );

  // A simulated hour on a virtual clock: one 1000-key batch every 10 s. The only calls allowed are the
  // ones cache expiry explains: one GetItem per 30 s config TTL, and one platform + customer AssumeRole
  // per credential refresh (sessions of 3600 s refreshed with 900 s left, i.e. every 2700 s).
  const hour = createUrlSigner(signerDeps());
  const startMs = virtualNowMs;
  let urls = 0;
  for (let s = 0; s < 3600; s += 10) {
    virtualNowMs = startMs + s * 1000;
    urls += (await hour.sign({ orgId: ORG_S3, operation: 'download', keys: keys1000.slice(0, 1000) })).urls.length;
  }
  const st = hour.stats();
  const expectedGetItem = Math.ceil(3600 / 30);
  const expectedAssume = 2 * Math.ceil(3600 / 2700);
  const per10k = (n: number) => ((n * 10_000) / urls).toFixed(2);
  record(
    `Simulated hour, ${urls} URLs (1000 every 10 s): calls per 10,000 URLs`,
    `GetItem ${per10k(st.getItemCalls)} (${st.getItemCalls} = config TTL expiries), AssumeRole ${per10k(st.assumeRoleCalls)} (${st.assumeRoleCalls} = credential refreshes), GetSecretValue ${per10k(st.getSecretValueCalls)}`,
    `only expiry refreshes (GetItem ${expectedGetItem}, AssumeRole ${expectedAssume})`,
    st.getItemCalls === expectedGetItem && st.assumeRoleCalls === expectedAssume && st.getSecretValueCalls === 0,
  );
  virtualNowMs = Date.now();
}

// ---------------------------------------------------------------------------------------------
// 4. Cold start: bundle size and module init
// ---------------------------------------------------------------------------------------------

/** Issue 12.9: the signer's bundle and module init. */
const SIGNER_BUNDLE_TARGET_BYTES = 200 * 1024;
const SIGNER_INIT_TARGET_MS = 50;

/** A bundle of `entry` as serverless.yml builds it (deploy/esbuild-options.cjs). Returns its size. */
async function bundle(entry: string, outfile: string, stdin?: string, external: string[] = buildOptions.external): Promise<number> {
  await build({
    // As serverless.yml builds it (deploy/esbuild-options.cjs): node24 esm, module-first, minified, with
    // the createRequire banner.
    ...buildOptions,
    ...(stdin ? { stdin: { contents: stdin, resolveDir: join(here, '..'), loader: 'ts' } } : { entryPoints: [entry] }),
    outfile,
    logLevel: 'silent',
    external,
  });
  return statSync(outfile).size;
}

/** Module init of each bundle in fresh processes, interleaved (a, b, a, b, ...); median per bundle. */
function initTimes(files: string[], dir: string, runs: number): number[] {
  const probe = join(dir, 'probe.mjs');
  writeFileSync(
    probe,
    `const t0 = performance.now(); const m = await import(process.argv[2]); const t1 = performance.now();\n` +
      `if (typeof m.handler !== 'function') throw new Error('no handler export');\n` +
      `console.log(JSON.stringify({ initMs: t1 - t0 }));\n`,
  );
  const samples = files.map(() => [] as number[]);
  for (let r = 0; r < runs; r++) {
    files.forEach((file, i) => {
      const line = execFileSync(process.execPath, [probe, file], {
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_REGION: 'us-east-1' },
        encoding: 'utf8',
      });
      samples[i]!.push((JSON.parse(line.trim().split('\n').pop()!) as { initMs: number }).initMs);
    });
  }
  return samples.map(median);
}

/** The SDK clients the signer used before it signed its own calls, kept alive in a baseline bundle. */
const SDK_SIGNER_CLIENTS =
  `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\n` +
  `import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';\n` +
  `import { STSClient, AssumeRoleCommand } from '@aws-sdk/client-sts';\n` +
  `import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';\n` +
  `export const withSdkClients = [DynamoDBClient, DynamoDBDocumentClient, GetCommand, STSClient, AssumeRoleCommand, SecretsManagerClient, GetSecretValueCommand];\n`;

async function benchColdStart(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'signer-bundle-'));
  try {
    const signerFile = join(out, 'handler.mjs');
    const bytes = await bundle(join(here, '..', 'functions', 'signing', 'handler.ts'), signerFile);
    // Two baselines, rebuilt in this run from today's signer plus what it used to carry (module init is what
    // the SDK modules cost to load; the signer's own code is the same in all three):
    // - "before 12.9": an S3Client and its multipart commands, the DynamoDB/STS/Secrets Manager clients, and
    //   the whole credential chain (no excludes): the signer as issue 12 measured it (564 KB, ~140 ms);
    // - "SDK clients": the DynamoDB, STS and Secrets Manager clients with the deployed excludes: the signer
    //   just before its calls became signed fetches (~350 KB).
    const baselineFile = join(out, 'baseline.mjs');
    const baselineBytes = await bundle(
      '',
      baselineFile,
      `export { handler } from './functions/signing/handler';\n` +
        `import { S3Client, HeadObjectCommand, CreateMultipartUploadCommand, CompleteMultipartUploadCommand, AbortMultipartUploadCommand } from '@aws-sdk/client-s3';\n` +
        `export const withS3Client = [S3Client, HeadObjectCommand, CreateMultipartUploadCommand, CompleteMultipartUploadCommand, AbortMultipartUploadCommand];\n` +
        SDK_SIGNER_CLIENTS,
      [],
    );
    const sdkFile = join(out, 'sdk-clients.mjs');
    const sdkBytes = await bundle('', sdkFile, `export { handler } from './functions/signing/handler';\n${SDK_SIGNER_CLIENTS}`);
    const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;
    record('Signer bundle before 12.9 (signer + S3Client + SDK clients + credential chain, rebuilt in this run)', kb(baselineBytes));
    record('Signer bundle with the DynamoDB/STS/Secrets Manager SDK clients (rebuilt in this run)', kb(sdkBytes));
    record(
      'Signer bundle (esbuild as deployed: node24 esm, module-first, minified)',
      `${kb(bytes)}, ${(baselineBytes / bytes).toFixed(2)}x smaller than before 12.9, ${(sdkBytes / bytes).toFixed(2)}x smaller than with the SDK clients`,
      `<= ${kb(SIGNER_BUNDLE_TARGET_BYTES)}`,
      bytes <= SIGNER_BUNDLE_TARGET_BYTES,
    );
    const [initMs, baselineInitMs, sdkInitMs] = initTimes([signerFile, baselineFile, sdkFile], out, 9);
    record('Signer module init before 12.9 (fresh process, median of 9)', `${baselineInitMs!.toFixed(1)} ms`);
    record('Signer module init with the SDK clients (fresh process, median of 9)', `${sdkInitMs!.toFixed(1)} ms`);
    // The target is 50 ms against ~140 ms measured before: judged as that ratio, within this run.
    const wantRatio = 140 / SIGNER_INIT_TARGET_MS;
    const ratio = baselineInitMs! / initMs!;
    record(
      'Signer module init (import of the bundle, fresh process, median of 9)',
      `${initMs!.toFixed(1)} ms, ${ratio.toFixed(2)}x faster than before 12.9, ${(sdkInitMs! / initMs!).toFixed(2)}x faster than with the SDK clients`,
      `<= ${SIGNER_INIT_TARGET_MS} ms, i.e. >= ${wantRatio.toFixed(1)}x faster than before 12.9`,
      ratio >= wantRatio,
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

// `npx tsx bench/signer.bench.ts cloudfront` runs one section (s3, cloudfront, batches, cold).
const only = process.argv[2];
if (!only || only === 's3') await benchS3();
if (!only || only === 'cloudfront') await benchCloudFront();
if (!only || only === 'batches') await benchBatches();
if (!only || only === 'cold') await benchColdStart();

console.log(`Signer benchmark (node ${process.version}, ${new Date().toISOString()})\n`);
const width = Math.max(...results.map((r) => r.name.length));
for (const r of results) {
  const verdict = r.ok === undefined ? '' : r.ok ? `  [target ${r.target}: met]` : `  [target ${r.target}: MISSED]`;
  console.log(`${r.name.padEnd(width)}  ${r.value}${verdict}`);
}
console.log(failed ? '\nSome signer targets were missed.' : '\nAll signer targets met.');
process.exit(failed ? 1 : 0);
