/** decideApproval Lambda, behind the HTTP API (`POST /approvals`, AWS_IAM): middy glue around `decideApproval`. */
import { commonConfig, env, loadConfig } from '#shared/config';
import { dynamo, stepFunctions } from '#shared/clients';
import { handlerFor, once } from '#shared/handler';
import { answeringHttpApi, type HttpApiResponse } from '#shared/http-api';
import { describeExecutionProbe, tableProbes } from '#shared/smoke-probes';
import { decideApproval, type DecideApprovalDeps, type DecisionResult } from './decide-approval';

// Through the HTTP API a result or refusal is an HTTP response (ApprovalNotAllowedError 403, ApprovalNotPendingError
// 409); a direct invoke gets the result or the thrown error (and is refused: it carries no verified caller).
export const createHandler = handlerFor<DecideApprovalDeps, DecisionResult | HttpApiResponse>(
  answeringHttpApi((event, deps: DecideApprovalDeps) => decideApproval(event, deps)),
  // SendTaskSuccess/SendTaskFailure have no harmless form (any token they accept ends a real wait): only a real
  // approval exercises them.
  (deps) => [...tableProbes(deps.store, ['GetItem', 'UpdateItem', 'PutItem']), describeExecutionProbe(deps.sfn, deps.stateMachineArn)],
);

function defaultDeps(): DecideApprovalDeps {
  const config = loadConfig({ ...commonConfig, STATE_MACHINE_ARN: env.string() });
  return {
    store: { ddb: dynamo(), tableName: config.TABLE_NAME },
    sfn: stepFunctions(),
    clock: () => new Date(),
    stateMachineArn: config.STATE_MACHINE_ARN,
  };
}

export const handler = createHandler(once(defaultDeps));
