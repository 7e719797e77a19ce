/**
 * The one esbuild configuration of the Lambda bundles. serverless.yml reads `serverlessEsbuild` as
 * `custom.esbuild` (serverless-esbuild); test/unit/signing-bundle.test.ts and bench/signer.bench.ts build
 * with `buildOptions` (the esbuild API), so what they measure is what is deployed.
 */
const EXCLUDE = require('./esbuild-exclude.json');

/** esbuild's own options, shared by the deploy, the bundle test and the benches. */
const buildOptions = {
  bundle: true,
  minify: true,
  platform: 'node',
  // ESM because @middy/core 6 is ESM-only. The Lambda runtime finds handler.mjs from the
  // `functions/x/handler.handler` handler string.
  format: 'esm',
  // The Lambda runtime (provider.runtime nodejs24.x). Only syntax lowering depends on it; the code still
  // runs on Node 20 locally (tsx, and test/deploy imports every bundle on the Node running the tests).
  target: 'node24',
  // ESM builds first. With esbuild's node default (main first) the SDK's CommonJS builds get bundled: the
  // signer grows from ~560 KB to ~850 KB, and their require("node:https") throws "Dynamic require of
  // "node:https" is not supported" at load in an ESM bundle (checked here). The banner gives any CommonJS
  // dependency that remains a real `require`; test/deploy imports every bundle to prove they load.
  mainFields: ['module', 'main'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  // Neither bundled nor packaged: the credential providers the SDK's default chain reaches only by dynamic
  // import() when the environment has no credentials. Lambda always sets them, so they are dead weight
  // (~110 KB per function, issue 12.9). docs/deploy.md.
  external: EXCLUDE,
};

/**
 * serverless-esbuild's `custom.esbuild`: the same options, with its own names for what it packages.
 * Every dependency is bundled, @aws-sdk/* included: bundling pins the exact client versions tested here
 * rather than the Lambda runtime's. Nothing is installed at package time, so packaging needs no network.
 */
const { external, ...esbuildOnly } = buildOptions;
const serverlessEsbuild = {
  ...esbuildOnly,
  // serverless-esbuild's `exclude` keeps these out of both the bundle and the zip (its `external` would
  // install them into the zip).
  exclude: external,
  outputFileExtension: '.mjs',
  sourcemap: 'linked',
  // Maps without the original sources: stack traces still resolve to file:line (NODE_OPTIONS
  // --enable-source-maps), and the signer zip stays far under its 1 MB budget.
  sourcesContent: false,
  packager: 'npm',
  keepOutputDirectory: false,
};

module.exports = { buildOptions, serverlessEsbuild };
