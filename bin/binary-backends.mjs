#!/usr/bin/env node
// The `binary-backends` command (package.json "bin"): runs the TypeScript CLI through tsx, so there is no
// build step. Everything else lives in cli/main.ts.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv.slice(2));
