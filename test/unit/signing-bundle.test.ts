/**
 * Bundle budgets (issue 12.9), asserted on size, never on time (init time is for `npm run bench -- signer`).
 *
 * The signer builds no SDK client at all: S3 endpoints come from S3's rule set (s3-endpoint.ts), the multipart
 * calls are signed fetches (s3-multipart.ts), and so are its GetItem, AssumeRole and GetSecretValue
 * (aws-fetch.ts, dynamodb-fetch.ts, sts-fetch.ts, secrets-fetch.ts). Of the client packages only their compiled
 * endpoint rule sets are bundled. It shares the zod-free modules (rules.ts, config.ts, records/read.ts) and keeps
 * classic zod out. A change that brings back an SDK client, the S3 presigner, the DocumentClient, the default
 * credential chain or classic zod fails here.
 *
 * Issue 12.9's target for the signer is 200 KB (it measured 151 KB when this was set; 577 KB before 12.9).
 * A module that imports @aws-sdk/lib-dynamodb at all (e.g. records/location-read-sdk.ts, for its documentClientReader and
 * listLocations) brings ~30 KB of DynamoDB client and most of @smithy/core with it: lib-dynamodb is not marked
 * side-effect free, so esbuild keeps it even when nothing of it is used. Keep such reads in separate modules
 * (records/read-sdk.ts is the pattern).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { buildOptions } from '../../deploy/esbuild-options.cjs';
import { FUNCTIONS } from '../deploy/cfn';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Issue 12.9's budget for the signer's minified bundle. */
const SIGNER_CEILING_BYTES = 200 * 1024;

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
  it('carries no SDK client, presigner, DocumentClient, credential chain or classic zod, and stays within 200 KB', async () => {
    const { bytes, inputs } = await bundle('functions/signing/handler.ts');
    expect(bytes).toBeLessThanOrEqual(SIGNER_CEILING_BYTES);
    // Of client-s3, only its compiled endpoint rule set.
    expect(inputs.filter((f) => f.includes('node_modules/@aws-sdk/client-s3/'))).toEqual([
      'node_modules/@aws-sdk/client-s3/dist-es/endpoint/bdd.js',
    ]);
    expect(inputs.filter((f) => /@aws-sdk\/(middleware-sdk-s3|s3-request-presigner|util-format-url)\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /node_modules\/zod\/v4\/classic\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /client-(iam|sfn|eventbridge)\//.test(f))).toEqual([]);
    // Of the DynamoDB, STS and Secrets Manager clients, only their compiled endpoint rule sets.
    expect(inputs.filter((f) => /node_modules\/@aws-sdk\/client-(dynamodb|sts|secrets-manager)\//.test(f)).sort()).toEqual([
      'node_modules/@aws-sdk/client-dynamodb/dist-es/endpoint/bdd.js',
      'node_modules/@aws-sdk/client-secrets-manager/dist-es/endpoint/bdd.js',
      'node_modules/@aws-sdk/client-sts/dist-es/endpoint/bdd.js',
    ]);
    expect(inputs.filter((f) => /@aws-sdk\/(lib-dynamodb|credential-provider-node|credential-provider-env)\/|@smithy\/(node-http-handler|middleware-retry)\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /functions\/shared\/(validation|records\/(workflow-context|pending-writes|lifecycle-writes|audit|expressions))\.ts$/.test(f))).toEqual([]);
    // No middy and no Powertools: the signer's glue is plain-handler.ts and its logger plain-logger.ts (same
    // lines, test/unit/plain-logger.test.ts); loading them was most of its module init (docs/signer.md).
    expect(inputs.filter((f) => /node_modules\/(@middy\/core|@aws-lambda-powertools)\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /functions\/shared\/(handler|logger)\.ts$/.test(f))).toEqual([]);
    // The shared modules it does use, rather than copies of them.
    for (const shared of ['plain-handler', 'plain-logger', 'rules', 'config', 'records/read', 's3-endpoint', 's3-multipart', 'aws-fetch', 'dynamodb-fetch', 'sts-fetch', 'secrets-fetch']) {
      expect(inputs).toContain(`functions/shared/${shared}.ts`);
    }
  });
});

/** Issue 12.9's budget for every function but the signer. */
const OTHER_BUDGET_BYTES = 400 * 1024;

describe('Function bundles', () => {
  it.each(FUNCTIONS.filter((f) => f.key !== 'signUrl').map((f) => [f.key, f.handler] as const))(
    '%s carries no classic zod nor an S3Client and stays within 400 KB',
    async (_key, handler) => {
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
