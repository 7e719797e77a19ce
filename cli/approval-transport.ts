/**
 * How `approve` / `reject` reach decideApproval: through the front door, the IAM-authorized HTTP API
 * (`POST /approvals`, SigV4-signed with the caller's own credentials), so the decider recorded is the
 * identity API Gateway verified. decideApproval refuses anything else (a direct invoke carries no
 * verified identity: ApprovalNotAllowedError).
 */
import { VARS, requireEnv, type AwsClients, type Env } from './aws';
import { postSigned } from './api';

export async function decideThroughFrontDoor<T>(clients: AwsClients, env: Env, body: Record<string, unknown>): Promise<T> {
  const { [VARS.api]: apiUrl } = requireEnv(env, [VARS.api]);
  return postSigned<T>(clients, apiUrl, '/approvals', body);
}
