import 'aws-sdk-client-mock-vitest/extend';
import '../local/polyfills';
import { createRequire } from 'node:module';
import type { SinonSandbox } from 'sinon';
import { afterAll, vi } from 'vitest';

// The unit project runs with `isolate: false` (vitest.config.ts, docs/testing.md): the test files of a worker
// share one module graph and one process, so whatever a file patches outlives it unless it is undone. Setup
// files run again before every test file, also without isolation, so this hook runs after each file and
// undoes what the file may have left patched:
// - aws-sdk-client-mock's `mockClient(X)` stubs `X.prototype.send` (or the instance's `send`) in sinon's
//   default sandbox, and the stub stays until `restore()`; `sinon.restore()` restores every such stub, so the
//   next file starts from the real `send`. Surprise: sinon ships a CJS and an ESM build with separate default
//   sandboxes, and aws-sdk-client-mock (no `exports`, loaded through its CJS `main`) uses the CJS one, so
//   `import sinon from 'sinon'` here restores nothing: take sinon as aws-sdk-client-mock requires it.
// - vitest spies (`vi.spyOn`), env stubs (`vi.stubEnv`), global stubs (`vi.stubGlobal`) and fake timers.
// A test file still restores what it patches itself (afterAll/afterEach); this is the safety net.
const requireFromMockLib = createRequire(createRequire(import.meta.url).resolve('aws-sdk-client-mock'));
const sinonOfMockLib = requireFromMockLib('sinon') as SinonSandbox;

afterAll(() => {
  sinonOfMockLib.restore();
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});
