import { defineConfig } from 'vitest/config';

/**
 * One vitest project per test tier (docs/testing.md), all sharing the settings below (`extends: true`):
 *   npx vitest run --project unit            (npm run test:unit: seconds)
 *   npx vitest run --project statemachine    ... integration, e2e, deploy
 * `npm test` runs them all.
 */
export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      POWERTOOLS_DEV: 'false',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
    projects: [
      // Domain functions and shared modules with mocked clients and an in-process table: no bundling,
      // no local stack, no osls. Run without isolation (docs/testing.md): the files of a worker share one
      // module graph, so each file is loaded into an already warm worker instead of re-importing the AWS SDK
      // and the functions into a fresh one, 18 s instead of 62 s for `npm run test:unit` (median of 3 on
      // this shared 2-core machine, docs/testing.md). The price: what a test file patches
      // outlives it unless it is undone, so a new unit test file must restore what it patches in
      // afterAll/afterEach (aws-sdk-client-mock `mockClient(X)` -> `.restore()`, vi.spyOn/stubEnv/
      // stubGlobal/fake timers, process.env edits); test/setup.ts restores the usual ones after every file
      // as a safety net. All cores (`'100%'`: 2 here, 1 on a 1-core machine); a maxWorkers that differs
      // from the other projects' default needs its own groupOrder, so in `npm test` unit runs after them.
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          exclude: ['test/unit/signing-bundle.test.ts'],
          isolate: false,
          maxWorkers: '100%',
          sequence: { groupOrder: 1 },
        },
      },
      // The real ASL on aws-local-stepfunctions with the real handlers.
      { extends: true, test: { name: 'statemachine', include: ['test/statemachine/**/*.test.ts'] } },
      // Each local stand-in and the signer against s3rver.
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      // The product through the CLI on the local stack.
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
      // The deploy artefacts: osls package and the template, and the esbuild bundles' budgets (the bundle
      // test sits in test/unit by history; it builds every function with esbuild, ~30 s, so it runs here).
      {
        extends: true,
        test: { name: 'deploy', include: ['test/deploy/**/*.test.ts', 'test/unit/signing-bundle.test.ts'] },
      },
    ],
  },
});
