/**
 * Reading a synthesized CloudFormation template: IAM statements with where they came from, IAM action
 * matching with wildcards, and the contract tables (docs/deploy.md "What gets deployed") the template must meet.
 */
import type { CfnResource, CfnTemplate, Json } from '../../deploy/synth';
import { FUNCTIONS as CATALOG } from '../../functions/catalog.cjs';

export interface FunctionContract {
  key: string;
  handler: string;
  suffix: string;
  /** Env vars the plan names for this function, besides AWS_REGION (set by Lambda), TABLE_NAME, EVENT_BUS_NAME. */
  env: string[];
}

/**
 * Provider-level variables (serverless.yml `provider.environment`) a function's code needs besides
 * COMMON_ENV: the catalog lists only each function's own variables.
 */
const ALSO_READS: Record<string, string[]> = { createPlatformRole: ['SERVICE_STAGE'] };

/** docs/deploy.md, "What gets deployed": the function catalog (functions/catalog.cjs). */
export const FUNCTIONS: FunctionContract[] = CATALOG.map((f) => ({
  key: f.key,
  handler: f.handler,
  suffix: f.suffix,
  env: [...Object.keys(f.environment ?? {}), ...(ALSO_READS[f.key] ?? [])],
}));

export const COMMON_ENV = ['TABLE_NAME', 'EVENT_BUS_NAME'];

/** osls's logical IDs: `fooBar` -> `FooBarLambdaFunction`. */
export function functionLogicalId(key: string): string {
  return `${key[0]!.toUpperCase()}${key.slice(1)}LambdaFunction`;
}

export interface Statement {
  /** Logical ID of the role or managed policy that holds it. */
  owner: string;
  ownerType: string;
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: Json[];
  Condition?: Json;
  NotAction?: Json;
  NotResource?: Json;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * A statement as it would be with the given conditions true or false: `Fn::If` picks a branch and
 * `AWS::NoValue` disappears. `conditions` defaults every condition to true, so optional grants (X-Ray) are
 * checked too.
 */
function resolveIf(value: Json, conditions: Record<string, boolean>): Json {
  if (value && typeof value === 'object' && !Array.isArray(value) && 'Fn::If' in value) {
    const [cond, whenTrue, whenFalse] = value['Fn::If'];
    return resolveIf((conditions[cond] ?? true) ? whenTrue : whenFalse, conditions);
  }
  return value;
}
const isNoValue = (v: Json) => v && typeof v === 'object' && v.Ref === 'AWS::NoValue';

function statementsOf(doc: Json, owner: string, ownerType: string, conditions: Record<string, boolean>): Statement[] {
  return asArray<Json>(doc?.Statement)
    .map((s) => resolveIf(s, conditions))
    .filter((s) => s && !isNoValue(s))
    .map((s) => ({
      ...s,
      owner,
      ownerType,
      Action: asArray<string>(s.Action),
      Resource: asArray<Json>(s.Resource),
    }));
}

/** Every identity-policy statement in the template (inline role policies and managed policies). */
export function allStatements(t: CfnTemplate, conditions: Record<string, boolean> = {}): Statement[] {
  const out: Statement[] = [];
  for (const [id, r] of Object.entries(t.Resources)) {
    if (r.Type === 'AWS::IAM::Role') {
      for (const p of asArray<Json>(r.Properties.Policies)) out.push(...statementsOf(p.PolicyDocument, id, r.Type, conditions));
    } else if (r.Type === 'AWS::IAM::ManagedPolicy' || r.Type === 'AWS::IAM::Policy') {
      out.push(...statementsOf(r.Properties.PolicyDocument, id, r.Type, conditions));
    }
  }
  return out;
}

/** IAM action matching: case-insensitive, `*` and `?` wildcards in the policy's action. */
export function actionMatches(policyAction: string, action: string): boolean {
  const re = new RegExp(`^${policyAction.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(action);
}

export function allows(statements: Statement[], action: string): Statement[] {
  return statements.filter((s) => s.Effect === 'Allow' && s.Action.some((a) => actionMatches(a, action)));
}

export function denies(statements: Statement[], action: string): Statement[] {
  return statements.filter((s) => s.Effect === 'Deny' && s.Action.some((a) => actionMatches(a, action)));
}

/** The literal text of a resource expression (a plain string or the template string of an `Fn::Sub`). */
export function resourceText(r: Json): string {
  if (typeof r === 'string') return r;
  if (r && typeof r === 'object' && 'Fn::Sub' in r) return Array.isArray(r['Fn::Sub']) ? r['Fn::Sub'][0] : r['Fn::Sub'];
  return JSON.stringify(r);
}

export function resourcesOfType(t: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(t.Resources).filter(([, r]) => r.Type === type);
}

/** The logical ID an `Fn::GetAtt: [id, 'Arn']` or `Ref: id` points at. */
export function referencedId(v: Json): string | undefined {
  if (v && typeof v === 'object') {
    if (Array.isArray(v['Fn::GetAtt'])) return v['Fn::GetAtt'][0];
    if (typeof v.Ref === 'string') return v.Ref;
  }
  return undefined;
}

/**
 * Logical IDs a template value references: `Ref`, `Fn::GetAtt`, and `${X}` / `${X.Attr}` inside `Fn::Sub`
 * (pseudo parameters `AWS::*` and the Sub's own variables excluded). `Fn::If`'s condition name is not a reference.
 */
export function references(value: Json, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) {
    for (const v of value) references(v, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, Json>)) {
      if (k === 'Ref' && typeof v === 'string') {
        if (!v.startsWith('AWS::')) out.add(v);
      } else if (k === 'Fn::GetAtt') {
        out.add(Array.isArray(v) ? v[0] : String(v).split('.')[0]);
      } else if (k === 'Fn::Sub') {
        const [text, vars] = Array.isArray(v) ? v : [v, {}];
        for (const m of String(text).matchAll(/\$\{([^}!][^}]*)\}/g)) {
          const name = m[1]!.split('.')[0]!;
          if (!name.startsWith('AWS::') && !(name in vars)) out.add(name);
        }
        references(vars, out);
      } else if (k === 'Fn::If' && Array.isArray(v)) {
        references(v.slice(1), out);
      } else {
        references(v, out);
      }
    }
  }
  return out;
}

/** One dependency cycle among the template's resources (Ref/GetAtt/Sub and DependsOn), or undefined. */
export function findCycle(t: CfnTemplate): string[] | undefined {
  const edges = new Map<string, string[]>();
  for (const [id, r] of Object.entries(t.Resources)) {
    const deps = new Set([...references(r.Properties ?? {}), ...asArray(r.DependsOn)]);
    edges.set(id, [...deps].filter((d) => d in t.Resources));
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const d of edges.get(id) ?? []) {
      const cycle = visit(d);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of edges.keys()) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}
