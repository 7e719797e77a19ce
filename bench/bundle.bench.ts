/**
 * Bundle sizes: runs `osls package` (offline, in a throwaway copy; see deploy/synth.ts) and reports each
 * function's zip, its minified ESM bundle and its source map. Targets (issue 12.9), on the minified
 * bundle (.mjs): the signer at most 200 KB (it is on the hot path internal services burst on), every
 * other function at most 400 KB; and the signer's zip at most 1 MB, as before. Exits 1 if one is missed.
 *
 * Same-run baseline (the machine is shared; docs/benchmarks.md): VerifyUpload and Cleanup as they were
 * before issue 12.9 dropped their S3Client, rebuilt now with esbuild (serverless.yml's settings and
 * excludes): today's handler plus the S3Client and the commands it used to send. Their ratio is against
 * today's handler built the same way, and the osls-packaged bundle is reported next to it.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import BUNDLE_EXCLUDE from '../deploy/esbuild-exclude.json';
import { FUNCTIONS } from '../test/deploy/cfn';
import { fileSize, synthesize } from '../deploy/synth';
import { readZip } from '../deploy/zip';

const SIGNER_ZIP_LIMIT = 1024 * 1024;
const SIGNER_BUNDLE_LIMIT = 200 * 1024;
const OTHER_BUNDLE_LIMIT = 400 * 1024;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A minified ESM bundle of `contents` (TypeScript, resolved from the repository root) as serverless.yml builds it. */
async function esbuildSize(contents: string, outfile: string): Promise<number> {
  await build({
    stdin: { contents, resolveDir: root, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    minify: true,
    outfile,
    logLevel: 'silent',
    external: BUNDLE_EXCLUDE,
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return statSync(outfile).size;
}

/** The S3 commands VerifyUpload and Cleanup sent through an S3Client before issue 12.9. */
const S3_BEFORE: Record<string, { handler: string; commands: string[] }> = {
  verifyUpload: {
    handler: './functions/onboarding/verify-upload/handler',
    commands: ['HeadBucketCommand', 'PutObjectCommand', 'CreateMultipartUploadCommand', 'UploadPartCommand', 'CompleteMultipartUploadCommand', 'AbortMultipartUploadCommand', 'ListObjectsV2Command'],
  },
  cleanup: {
    handler: './functions/onboarding/cleanup/handler',
    commands: ['ListObjectsV2Command', 'ListObjectVersionsCommand', 'DeleteObjectCommand'],
  },
};

async function s3ClientBaseline(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bundle-baseline-'));
  const lines: string[] = [];
  try {
    for (const [key, b] of Object.entries(S3_BEFORE)) {
      const now = await esbuildSize(`export { handler } from '${b.handler}';\n`, join(dir, `${key}.mjs`));
      const before = await esbuildSize(
        `export { handler } from '${b.handler}';\n` +
          `import { S3Client, ${b.commands.join(', ')} } from '@aws-sdk/client-s3';\n` +
          `export const withS3Client = [S3Client, ${b.commands.join(', ')}];\n`,
        join(dir, `${key}-before.mjs`),
      );
      lines.push(`| ${key} | ${kb(before)} | ${kb(now)} | ${(before / now).toFixed(2)}x smaller |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}

const synth = await synthesize({ stage: 'dev' });
try {
  console.log(`osls package (${FUNCTIONS.length} functions, offline, no credentials): ${(synth.durationMs / 1000).toFixed(1)} s\n`);
  console.log('| function | zip | bundle (.mjs) | source map |');
  console.log('| --- | ---: | ---: | ---: |');
  let failed = false;
  for (const f of FUNCTIONS) {
    const zip = synth.zips[f.key];
    if (!zip) {
      console.log(`| ${f.key} | missing | | |`);
      failed = true;
      continue;
    }
    const entries = readZip(zip);
    const bundle = entries.find((e) => e.name.endsWith('.mjs'));
    const map = entries.find((e) => e.name.endsWith('.mjs.map'));
    const zipped = fileSize(zip);
    const zipOver = f.key === 'signUrl' && zipped > SIGNER_ZIP_LIMIT;
    const limit = f.key === 'signUrl' ? SIGNER_BUNDLE_LIMIT : OTHER_BUNDLE_LIMIT;
    const bundleOver = (bundle?.size ?? 0) > limit;
    if (zipOver || bundleOver) failed = true;
    const notes = [zipOver ? '**zip over 1 MB**' : '', bundleOver ? `**bundle over ${kb(limit)}**` : ''].filter(Boolean).join(' ');
    console.log(`| ${f.key}${notes ? ` ${notes}` : ''} | ${kb(zipped)} | ${kb(bundle?.size ?? 0)} | ${kb(map?.size ?? 0)} |`);
  }
  console.log('\nSame-run baseline: with the S3Client they carried before issue 12.9 vs today (both esbuild, minified)\n');
  console.log('| function | before (with S3Client) | today | ratio |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const line of await s3ClientBaseline()) console.log(line);
  const signer = fileSize(synth.zips.signUrl ?? '');
  console.log(`\nsigner zip ${kb(signer)} of ${kb(SIGNER_ZIP_LIMIT)} allowed: ${signer <= SIGNER_ZIP_LIMIT ? 'met' : 'MISSED'}`);
  process.exitCode = failed ? 1 : 0;
} finally {
  synth.dispose();
}
