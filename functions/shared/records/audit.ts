/**
 * The audit trail: one item per step attempt, beside the org item.
 *
 *   pk "ORG#<orgId>"  sk "EVENT#<executionName>#<step>#<attempt>"     AuditEvent (model.ts)
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { asTransientOr } from '../errors';
import type { AuditEvent, RecordStore } from './model';
import { orgPk } from './read';
import { isConditionFailure } from './expressions';

export function auditSk(executionName: string, step: string, attempt: number): string {
  return `EVENT#${executionName}#${step}#${attempt}`;
}

/**
 * Writes one audit event, `EVENT#<executionName>#<step>#<attempt>`, with attribute_not_exists: a retried
 * step neither duplicates nor loses it. Returns false for a duplicate (a no-op).
 */
export async function writeAuditEvent(
  store: RecordStore,
  event: Omit<AuditEvent, 'pk' | 'sk'>,
): Promise<boolean> {
  const item: AuditEvent = { pk: orgPk(event.orgId), sk: auditSk(event.executionName, event.step, event.attempt), ...event };
  try {
    await store.ddb.send(
      new PutCommand({
        TableName: store.tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(pk) AND attribute_not_exists(sk)',
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw asTransientOr(err, 'DynamoDB PutItem (audit event)');
  }
}

