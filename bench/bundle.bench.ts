/**
 * Bundle sizes: runs `osls package` (offline, in a throwaway copy; see deploy/synth.ts) and reports each
 * function's zip, its minified ESM bundle and its source map. Targets (issue 12.9), on the minified
 * bundle (.mjs): the signer at most 200 KB (it is on the hot path internal services burst on), every
 * other function at most 400 KB; and the signer's zip at most 1 MB, as before. Exits 1 if one is missed.
 */
import { FUNCTIONS } from '../test/deploy/cfn';
import { fileSize, synthesize } from '../deploy/synth';
import { readZip } from '../deploy/zip';

const SIGNER_ZIP_LIMIT = 1024 * 1024;
const SIGNER_BUNDLE_LIMIT = 200 * 1024;
const OTHER_BUNDLE_LIMIT = 400 * 1024;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

const synth = await synthesize({ stage: 'dev' });
try {
  console.log(`osls package (12 functions, offline, no credentials): ${(synth.durationMs / 1000).toFixed(1)} s\n`);
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
  const signer = fileSize(synth.zips.signUrl ?? '');
  console.log(`\nsigner zip ${kb(signer)} of ${kb(SIGNER_ZIP_LIMIT)} allowed: ${signer <= SIGNER_ZIP_LIMIT ? 'met' : 'MISSED'}`);
  process.exitCode = failed ? 1 : 0;
} finally {
  synth.dispose();
}
