/**
 * The update-expression builder the record writes share (pending-writes.ts, lifecycle-writes.ts): attribute
 * placeholders, the pending-config paths and ownership condition, the version bump, and `update`, the one
 * conditional UpdateItem on the org item.
 *
 * Every write is a single conditional write on the org item, bumps `version`, and translates throttling/5xx
 * into TransientError. DynamoDB (and dynalite) refuse an update whose path's parent map does not exist, and
 * refuse overlapping paths in one expression, so the org item, its `backends` map and the backend entry are
 * created by ensureBackend (pending-writes.ts) first, each with if_not_exists (idempotent under retries and
 * races).
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { asTransientOr, awsErrorName } from '../errors';
import type { ExecutionRef, RecordStore } from './model';
import { ORG_SK, orgPk } from './read';

export function isConditionFailure(err: unknown): boolean {
  return awsErrorName(err) === 'ConditionalCheckFailedException';
}

/**
 * Builds expression attribute names and values. Every attribute name goes through a placeholder,
 * because role names may hold `. @ = , +` and words like `status` and `version` are reserved.
 */
export class Expr {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private readonly byName = new Map<string, string>();
  private valueCount = 0;

  /** `a.b.c` as `#n0.#n1.#n2`. */
  path(...attrs: string[]): string {
    return attrs
      .map((a) => {
        let key = this.byName.get(a);
        if (!key) {
          key = `#n${this.byName.size}`;
          this.byName.set(a, key);
          this.names[key] = a;
        }
        return key;
      })
      .join('.');
  }

  value(v: unknown): string {
    const key = `:v${this.valueCount++}`;
    this.values[key] = v;
    return key;
  }
}

export function pendingPath(e: Expr, roleName: string, ...rest: string[]): string {
  return e.path('backends', roleName, 'pending', ...rest);
}

/** `pending.executionArn = :me`: this execution still owns the backend's pending config. */
export function ownsPending(e: Expr, ref: ExecutionRef): string {
  return `${pendingPath(e, ref.roleName, 'executionArn')} = ${e.value(ref.executionArn)}`;
}

export function bumpVersion(e: Expr, now: Date): string {
  return `${e.path('version')} = ${e.path('version')} + ${e.value(1)}, ${e.path('updatedAt')} = ${e.value(now.toISOString())}`;
}

/** Sets pending.<field> for each defined field, and REMOVEs those explicitly set to undefined in `remove`. */
export function pendingSets(e: Expr, roleName: string, fields: Record<string, unknown>): { sets: string[]; removes: string[] } {
  const sets: string[] = [];
  const removes: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) removes.push(pendingPath(e, roleName, k));
    else sets.push(`${pendingPath(e, roleName, k)} = ${e.value(v)}`);
  }
  return { sets, removes };
}

/**
 * One conditional UpdateItem on the org item. A failed condition is rethrown as it is (the caller decides
 * what it means); anything else goes through asTransientOr.
 */
export async function update(
  store: RecordStore,
  orgId: string,
  e: Expr,
  updateExpression: string,
  conditionExpression: string | undefined,
  what: string,
  returnValues?: 'ALL_OLD' | 'ALL_NEW',
): Promise<Record<string, unknown> | undefined> {
  try {
    const out = await store.ddb.send(
      new UpdateCommand({
        TableName: store.tableName,
        Key: { pk: orgPk(orgId), sk: ORG_SK },
        UpdateExpression: updateExpression,
        ConditionExpression: conditionExpression,
        ExpressionAttributeNames: e.names,
        ExpressionAttributeValues: Object.keys(e.values).length > 0 ? e.values : undefined,
        ReturnValues: returnValues,
      }),
    );
    return out.Attributes;
  } catch (err) {
    if (isConditionFailure(err)) throw err;
    throw asTransientOr(err, `DynamoDB UpdateItem (${what})`);
  }
}
