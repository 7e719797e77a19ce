/**
 * Which DynamoDB actions a function's code really calls, read from its sources (no AWS, no bundling): the
 * relative imports reachable from its handler, and the record-store functions (functions/shared/records/: model,
 * expressions, pending-writes, lifecycle-writes, audit, workflow-context, read, read-sdk, location-read; and
 * functions/shared/claims.ts) they import and call, each resolved to the SDK
 * commands it sends, transitively; and the signed-fetch calls (dynamodb-fetch.ts) by their `DynamoDB_20120810.<Action>` target. An
 * over-approximation by design (a function that is imported and called anywhere in the reachable files counts),
 * so a grant it finds missing is really missing; code that never builds a DynamoDB client (`dynamo()`, or the
 * signer's `fetchItemReader()`) calls none.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { repoRoot } from '../../deploy/synth';

const STORE_FILES = [
  'functions/shared/records/model.ts',
  'functions/shared/records/expressions.ts',
  'functions/shared/records/pending-writes.ts',
  'functions/shared/records/lifecycle-writes.ts',
  'functions/shared/records/audit.ts',
  'functions/shared/records/workflow-context.ts',
  'functions/shared/records/read.ts',
  'functions/shared/records/read-sdk.ts',
  'functions/shared/claims.ts',
  // The signer imports its ItemReader and one read from here, not listLocations' Query.
  'functions/shared/records/location-read.ts',
];
const COMMAND_ACTIONS: Record<string, string> = {
  GetCommand: 'GetItem',
  GetItemCommand: 'GetItem',
  PutCommand: 'PutItem',
  PutItemCommand: 'PutItem',
  UpdateCommand: 'UpdateItem',
  UpdateItemCommand: 'UpdateItem',
  DeleteCommand: 'DeleteItem',
  DeleteItemCommand: 'DeleteItem',
  QueryCommand: 'Query',
  ScanCommand: 'Scan',
  BatchGetCommand: 'BatchGetItem',
  BatchWriteCommand: 'BatchWriteItem',
  TransactWriteCommand: 'TransactWriteItems',
};

const commandsIn = (text: string) =>
  new Set([
    ...Object.entries(COMMAND_ACTIONS)
      .filter(([cmd]) => new RegExp(`new ${cmd}\\(`).test(text))
      .map(([, a]) => a),
    // JSON 1.0 targets of the signed-fetch client (dynamodb-fetch.ts).
    ...[...text.matchAll(/'DynamoDB_20120810\.(\w+)'/g)].map((m) => m[1]!),
  ]);

/** Top-level function name -> its text, for the record-store files. */
function storeFunctions(): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of STORE_FILES) {
    const text = readFileSync(join(repoRoot, file), 'utf8');
    for (const part of text.split(/\n(?=(?:export )?(?:async )?function )/)) {
      const m = /^(?:export )?(?:async )?function (\w+)/.exec(part);
      if (m) out.set(m[1]!, part);
    }
  }
  return out;
}

/** The DynamoDB actions each record-store function sends, itself or through the others. */
function storeActions(): Map<string, Set<string>> {
  const fns = storeFunctions();
  const memo = new Map<string, Set<string>>();
  const visit = (name: string, seen: Set<string>): Set<string> => {
    if (memo.has(name)) return memo.get(name)!;
    const body = fns.get(name)!;
    const actions = commandsIn(body);
    for (const other of fns.keys()) {
      if (other !== name && !seen.has(other) && new RegExp(`\\b${other}\\(`).test(body)) {
        for (const a of visit(other, new Set([...seen, name]))) actions.add(a);
      }
    }
    memo.set(name, actions);
    return actions;
  };
  for (const name of fns.keys()) visit(name, new Set());
  return memo;
}

const resolveImport = (from: string, spec: string): string | undefined => {
  // package.json `imports`: `#shared/x` is functions/shared/x.ts.
  const base = spec.startsWith('#shared/') ? join(repoRoot, 'functions/shared', spec.slice('#shared/'.length)) : resolve(dirname(from), spec);
  return [`${base}.ts`, join(base, 'index.ts')].find(existsSync);
};

/** The DynamoDB actions (`GetItem`, ...) reachable from a handler file, e.g. `functions/starter/handler.ts`. */
export function dynamoActionsOf(handlerFile: string): string[] {
  const store = storeActions();
  const storeAbs = new Set(STORE_FILES.map((f) => join(repoRoot, f)));
  // The smoke probes (functions/shared/smoke-probes.ts) make each table call in a form that writes nothing; which
  // ones a function runs is its handler's `tableProbes(..., [...])` list, checked by smokeTableProbesOf.
  const skip = new Set([join(repoRoot, 'functions/shared/smoke-probes.ts')]);
  const actions = new Set<string>();
  const seen = new Set<string>();
  const queue = [join(repoRoot, handlerFile)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file) || skip.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const a of commandsIn(text)) actions.add(a);
    // `import type` brings no code, so no call: not followed (the signer names records/location-read.ts's ItemReader type).
    for (const m of text.matchAll(/import\s+\{([^}]*)\}\s+from\s+'((?:\.|#shared\/)[^']+)'/g)) {
      const target = resolveImport(file, m[2]!);
      if (!target) continue;
      if (storeAbs.has(target)) {
        for (const spec of m[1]!.split(',')) {
          const [imported, local] = spec.trim().replace(/^type\s+/, '').split(/\s+as\s+/);
          const used = local ?? imported;
          if (!imported || !store.has(imported)) continue;
          if (new RegExp(`\\b${used}\\(`).test(text.replace(m[0], ''))) for (const a of store.get(imported)!) actions.add(a);
        }
      } else {
        queue.push(target);
      }
    }
  }
  // Functions get their DynamoDB client from `dynamo()` (functions/shared/clients.ts), in the deps their handler
  // builds: code that never asks for it cannot call DynamoDB, whatever helpers it shares with others.
  const clients = join(repoRoot, 'functions/shared/clients.ts');
  const usesDynamo = [...seen].some((f) => f !== clients && /\bdynamo\(\)|\bfetchItemReader\(/.test(readFileSync(f, 'utf8')));
  return usesDynamo ? [...actions].sort() : [];
}

/** The DynamoDB actions a handler's smoke probes exercise: its `tableProbes(store, ['GetItem', ...])` list. */
export function smokeTableProbesOf(handlerFile: string): string[] {
  const text = readFileSync(join(repoRoot, handlerFile), 'utf8');
  const m = /tableProbes\([^,]+,\s*\[([^\]]*)\]\)/.exec(text);
  const listed = m ? [...m[1]!.matchAll(/'(\w+)'/g)].map((x) => x[1]!) : [];
  // A probe written out in the handler (the signer's GetItem through its ItemReader, no SDK client).
  const written = [...text.matchAll(/action: 'dynamodb:(\w+)'/g)].map((x) => x[1]!);
  return [...new Set([...listed, ...written])].sort();
}
