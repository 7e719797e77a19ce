/**
 * `npm run bench`: runs every bench/*.bench.ts in its own process, one after another (the machine has
 * two cores; running them side by side would skew each other's ratios), and prints their reports.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
let failed = 0;
for (const file of files) {
  console.log(`\n## ${file}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, file)], {
    stdio: 'inherit',
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  if (r.status !== 0) {
    failed += 1;
    console.log(`\n${file} FAILED (exit ${r.status})`);
  }
}
console.log(`\n${files.length - failed}/${files.length} benchmarks met their targets`);
process.exit(failed ? 1 : 0);
