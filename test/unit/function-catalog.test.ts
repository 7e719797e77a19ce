/**
 * The function catalog (functions/catalog.cjs) is the one list of functions: the ASL's Lambda Tasks,
 * serverless.yml's `functions:`, the IAM roles and the local stack must all agree with it.
 * (The synthesized template itself is checked by test/deploy/template.test.ts, which reads the same catalog.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS as CATALOG, functionName, handlerModule, roleLogicalId, serverlessFunctions } from '../../functions/catalog.cjs';
import { FUNCTIONS as LOCAL_FUNCTIONS, LambdaRegistry } from '../../local/lambda';

interface AslState {
  Type: string;
  Resource?: unknown;
  Parameters?: { FunctionName?: unknown };
  States?: Record<string, AslState>;
  Iterator?: { States: Record<string, AslState> };
  ItemProcessor?: { States: Record<string, AslState> };
  Branches?: { States: Record<string, AslState> }[];
}

/** Every Task of the ASL (nested ones too) with the function key it invokes: `{"Fn::GetAtt": [key, "Arn"]}`. */
function lambdaTasks(states: Record<string, AslState>, out: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  for (const [name, s] of Object.entries(states)) {
    if (s.Type === 'Task') {
      const target = (s.Parameters?.FunctionName ?? s.Resource) as { 'Fn::GetAtt'?: [string, string] } | undefined;
      out[name] = target?.['Fn::GetAtt']?.[1] === 'Arn' ? target['Fn::GetAtt'][0] : undefined;
    }
    for (const nested of [s.Iterator, s.ItemProcessor, ...(s.Branches ?? [])]) if (nested) lambdaTasks(nested.States, out);
  }
  return out;
}

const asl = JSON.parse(readFileSync('statemachine/onboarding.asl.json', 'utf8')) as { States: Record<string, AslState> };

/** osls's resolver, for the variables the catalog uses: `sls:stage`, `self:service`, and stage params. */
const resolveVariable = async (address: string): Promise<unknown> => {
  if (address === 'sls:stage') return 'dev';
  if (address === 'self:service') return 'binary-backends';
  if (address.startsWith('param:')) return `<${address}>`;
  if (address.startsWith('self:custom.')) return `<${address}>`;
  throw new Error(`unexpected variable ${address}`);
};

describe('Function catalog (functions/catalog.cjs)', () => {
  it('names every Lambda Task of the ASL, with the Task its function runs, and no Task the ASL lacks', () => {
    const tasks = lambdaTasks(asl.States);
    const fromCatalog = Object.fromEntries(CATALOG.flatMap((f) => (f.task ? [[f.task, f.key]] : [])));
    expect(tasks).toEqual(fromCatalog);
  });

  it('is what serverless.yml deploys: `functions:` is generated from it', () => {
    const yml = readFileSync('serverless.yml', 'utf8');
    const lines = yml.split('\n').filter((l) => /^functions:/.test(l));
    expect(lines).toEqual(['functions: ${file(functions/catalog.cjs):serverlessFunctions}']);
  });

  it('generates one serverless function per entry: handler, name, own role, timeout, its own environment', async () => {
    const fns = await serverlessFunctions({ resolveVariable });
    expect(Object.keys(fns)).toEqual(CATALOG.map((f) => f.key));
    for (const f of CATALOG) {
      expect(fns[f.key], f.key).toMatchObject({ handler: f.handler, name: `binary-backends-dev-${f.suffix}`, role: roleLogicalId(f.key), timeout: f.timeout });
      expect(Object.keys((fns[f.key]!.environment ?? {}) as object), f.key).toEqual(Object.keys(f.environment ?? {}));
    }
    expect(fns.recordConfig!.environment).toEqual({ APPROVAL_POLICY: '<param:approvalPolicy>', APPROVAL_TIMEOUT_SECONDS: '<param:approvalTimeoutSeconds>' });
    expect(fns.signUrl!.memorySize).toBe('<param:signerMemorySize>');
    expect((fns.starter!.events as { eventBridge: { name: string } }[])[0]!.eventBridge.name).toBe('binary-backends-dev-onboarding-requested');
  });

  it("names the chain walkers' roles, exactly, in CreatePlatformRole's trusted principals", async () => {
    const fns = await serverlessFunctions({ resolveVariable });
    const pattern = (fns.createPlatformRole!.environment as Record<string, { 'Fn::Join': [string, { 'Fn::Sub': string }[]] }>).PLATFORM_ROLE_TRUSTED_PRINCIPAL_PATTERN;
    expect(pattern['Fn::Join'][1].map((s) => s['Fn::Sub'])).toEqual(
      ['check-trust', 'verify-upload', 'verify-download', 'cleanup', 'sign-url'].map((s) => `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/binary-backends-dev-${s}`),
    );
  });

  it('has a handler module for every function, exporting `handler`', () => {
    for (const f of CATALOG) {
      expect(f.handler, f.key).toMatch(/^functions\/[a-z/-]+\/handler\.handler$/);
      const file = `${handlerModule(f.handler)}.ts`;
      expect(existsSync(file), file).toBe(true);
      expect(readFileSync(file, 'utf8'), file).toMatch(/export const handler\b|export (async )?function handler\b|export \{[^}]*\bhandler\b/);
    }
  });

  it('gets one role per function from deploy/iam/function-roles.cjs, named like the function', async () => {
    const roles = createRequire(import.meta.url)('../../deploy/iam/function-roles.cjs') as (ctx: { resolveVariable: typeof resolveVariable }) => Promise<Record<string, { Type: string; Properties: { RoleName: string } }>>;
    const resources = await roles({ resolveVariable });
    const roleNames = Object.fromEntries(Object.entries(resources).map(([id, r]) => [id, r.Properties.RoleName]));
    expect(roleNames).toEqual(Object.fromEntries(CATALOG.map((f) => [roleLogicalId(f.key), functionName('dev', f.suffix)])));
  });

  it('is the local stack\'s list: every function answers under its deployed name, from its real handler module', () => {
    expect(LOCAL_FUNCTIONS.map((f) => [f.key, f.suffix, f.handler])).toEqual(CATALOG.map((f) => [f.key, f.suffix, `${handlerModule(f.handler)}.ts`]));
    const registry = new LambdaRegistry('local', '000000000000', process.cwd());
    for (const f of CATALOG) {
      expect(registry.functionName(f.key)).toBe(`binary-backends-local-${f.suffix}`);
      expect(registry.resolve(`binary-backends-local-${f.suffix}`), f.key).toBe(`binary-backends-local-${f.suffix}`);
    }
    expect(registry.resolve('binary-backends-local-nope')).toBeUndefined();
  });
});
