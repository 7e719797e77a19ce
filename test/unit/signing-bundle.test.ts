/**
 * The signer shares the zod-free modules (rules.ts, config.ts, clients.ts, org-record.ts) and keeps
 * classic zod and the unused service clients out of its bundle, so it stays under its 1 MB budget.
 * This guards that: a change that makes one of those modules import validation.ts or backend-records.ts
 * (which load classic zod), or build clients eagerly, fails here.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('Signer bundle', () => {
  it('stays under 1 MB minified and pulls in neither classic zod nor the unused service clients', async () => {
    const result = await build({
      entryPoints: [join(root, 'functions/signing/handler.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // As serverless.yml builds it: the SDK's ES module builds, which esbuild can tree-shake.
      mainFields: ['module', 'main'],
      minify: true,
      write: false,
      metafile: true,
      outfile: 'handler.mjs',
      logLevel: 'silent',
    });
    const bytes = result.outputFiles[0]!.contents.byteLength;
    expect(bytes).toBeLessThanOrEqual(1024 * 1024);
    // Files that contribute bytes to the output (metafile.inputs also lists files parsed, then tree-shaken away).
    const output = Object.values(result.metafile.outputs)[0]!;
    const inputs = Object.entries(output.inputs)
      .filter(([, v]) => v.bytesInOutput > 0)
      .map(([f]) => f);
    expect(inputs.filter((f) => /node_modules\/zod\/v4\/classic\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /client-(iam|sfn|eventbridge)\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /functions\/shared\/(validation|backend-records)\.ts$/.test(f))).toEqual([]);
    // The shared modules it does use, rather than copies of them.
    for (const shared of ['rules', 'config', 'clients', 'org-record']) {
      expect(inputs).toContain(`functions/shared/${shared}.ts`);
    }
  });
});
