/**
 * How `approve` / `reject` reach decideApproval. It accepts only callers AWS verified (API Gateway's IAM
 * authorizer), so the request must go through the front door (the HTTP API); a direct Lambda invoke, the
 * fallback while no API URL is configured, carries no verified identity and is refused with
 * ApprovalNotAllowedError.
 */
import type { AwsClients, Env } from './aws';
import { invokeJson } from './lambda';

export const DECIDE_APPROVAL_FUNCTION = 'BINARY_BACKENDS_DECIDE_APPROVAL_FUNCTION';

export async function decideThroughFrontDoor<T>(clients: AwsClients, env: Env, body: Record<string, unknown>): Promise<T> {
  const fn = env[DECIDE_APPROVAL_FUNCTION];
  if (!fn) throw new Error(`${DECIDE_APPROVAL_FUNCTION} is not set`);
  return invokeJson<T>(clients.lambda, fn, body);
}
