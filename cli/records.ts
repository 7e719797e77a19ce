/**
 * Reading the org record (DynamoDB) for the CLI: which config belongs to an execution, and what state a
 * backend is in. Read-only: the CLI never writes the table; the starter and the workflow do.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  findBackendIgnoringCase,
  getOrgRecord,
  type Backend,
  type BackendConfig,
  type OrgRecord,
} from '../functions/public';

export { findBackendIgnoringCase };
export type { Backend, BackendConfig, OrgRecord };

export async function readOrg(ddb: DynamoDBDocumentClient, table: string, orgId: string): Promise<OrgRecord | undefined> {
  return getOrgRecord(ddb, table, orgId, true);
}

/** The config (pending or serving) that the given execution wrote, if any. */
export function configOfExecution(
  record: OrgRecord | undefined,
  roleName: string,
  executionArn: string,
): { backend: Backend; config: BackendConfig; slot: 'pending' | 'serving' } | undefined {
  const backend = findBackendIgnoringCase(record, roleName);
  if (!backend) return undefined;
  if (backend.pending?.executionArn === executionArn) return { backend, config: backend.pending, slot: 'pending' };
  if (backend.serving?.executionArn === executionArn) return { backend, config: backend.serving, slot: 'serving' };
  return undefined;
}

/** Statuses at which the platform role exists and the trust policy has been rendered for this config. */
export const TRUST_POLICY_READY_STATUSES = new Set(['AWAITING_TRUST', 'VERIFYING', 'VERIFIED', 'ACTIVE']);

/** Statuses after which the config will not change any more. */
export const FINAL_STATUSES = new Set(['ACTIVE', 'FAILED', 'ABANDONED']);
