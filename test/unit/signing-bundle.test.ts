/**
 * Bundle budgets (issue 12.9), asserted on size, never on time (init time is for `npm run bench -- signer`).
 *
 * The signer resolves S3 endpoints from the rule set and signs its multipart calls itself (s3-endpoint.ts,
 * s3-multipart.ts), so no S3Client is bundled: only client-s3's compiled endpoint rule set. It shares the
 * zod-free modules (rules.ts, config.ts, clients.ts, org-record.ts) and keeps classic zod and the unused
 * service clients out. A change that brings back an S3Client, the S3 presigner, classic zod, or eager
 * clients fails here.
 *
 * Issue 12.9's target for the signer is 200 KB. What remains (docs/signer.md) is the DynamoDB, STS and
 * Secrets Manager clients with @smithy/core and the default credential chain; the ceiling below keeps
 * what was won (577 KB before) until those go too.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { buildOptions } from '../../deploy/esbuild-options.cjs';
import { FUNCTIONS } from '../deploy/cfn';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What the signer must stay under today (it measured 349 KB when this was set; 577 KB before 12.9; target 200 KB). */
const SIGNER_CEILING_BYTES = 360 * 1024;

async function bundle(entry: string): Promise<{ bytes: number; inputs: string[] }> {
  const result = await build({
    // As serverless.yml builds it (deploy/esbuild-options.cjs).
    ...buildOptions,
    entryPoints: [join(root, entry)],
    write: false,
    metafile: true,
    outfile: 'handler.mjs',
    logLevel: 'silent',
  });
  // Files that contribute bytes to the output (metafile.inputs also lists files parsed, then tree-shaken away).
  const output = Object.values((result.metafile as Metafile).outputs)[0]!;
  const inputs = Object.entries(output.inputs)
    .filter(([, v]) => v.bytesInOutput > 0)
    .map(([f]) => f);
  return { bytes: result.outputFiles[0]!.contents.byteLength, inputs };
}

describe('Signer bundle', () => {
  it('carries no S3Client, presigner, classic zod or unused service client, and stays under its ceiling', async () => {
    const { bytes, inputs } = await bundle('functions/signing/handler.ts');
    expect(bytes).toBeLessThanOrEqual(SIGNER_CEILING_BYTES);
    // Of client-s3, only its compiled endpoint rule set.
    expect(inputs.filter((f) => f.includes('node_modules/@aws-sdk/client-s3/'))).toEqual([
      'node_modules/@aws-sdk/client-s3/dist-es/endpoint/bdd.js',
    ]);
    expect(inputs.filter((f) => /@aws-sdk\/(middleware-sdk-s3|s3-request-presigner|util-format-url)\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /node_modules\/zod\/v4\/classic\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /client-(iam|sfn|eventbridge)\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /functions\/shared\/(validation|backend-records)\.ts$/.test(f))).toEqual([]);
    // The shared modules it does use, rather than copies of them.
    for (const shared of ['rules', 'config', 'clients', 'org-record', 's3-endpoint', 's3-multipart']) {
      expect(inputs).toContain(`functions/shared/${shared}.ts`);
    }
  });
});

/** Issue 12.9's budget for every function but the signer. */
const OTHER_BUDGET_BYTES = 400 * 1024;

describe('Function bundles', () => {
  it.each(FUNCTIONS.filter((f) => f.key !== 'signUrl').map((f) => [f.key, f.handler] as const))(
    '%s carries no classic zod nor an S3Client and stays within 400 KB',
    async (key, handler) => {
      const { bytes, inputs } = await bundle(`${handler.replace(/\.handler$/, '')}.ts`);
      // Classic zod costs ~450 KB in every bundle whatever is used of it: use zod/mini (validation.ts).
      expect(inputs.filter((f) => /node_modules\/zod\/v4\/classic\//.test(f))).toEqual([]);
      // No S3Client anywhere (VerifyUpload and Cleanup call S3 through s3-objects.ts): of client-s3, at most
      // its compiled endpoint rule set.
      expect(inputs.filter((f) => f.includes('node_modules/@aws-sdk/client-s3/') && !f.endsWith('/dist-es/endpoint/bdd.js'))).toEqual([]);
      expect(bytes).toBeLessThanOrEqual(OTHER_BUDGET_BYTES);
    },
  );
});
