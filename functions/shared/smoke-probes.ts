/** The smoke probes the functions pick from (smoke.ts says what a probe is and why each one is harmless). */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetRoleCommand, ListRolePoliciesCommand, type IAMClient } from '@aws-sdk/client-iam';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { RecordStore } from './records/model';
import { EVENT_SOURCE } from './events';
import { SMOKE_KEY, SMOKE_ORG_ID, type SmokeProbe } from './smoke';

export { SMOKE_KEY, SMOKE_ORG_ID };

type TableAction = 'GetItem' | 'UpdateItem' | 'PutItem' | 'Query';

/** One probe per DynamoDB action, each writing nothing (see the module comment). */
export function tableProbes(store: RecordStore, actions: TableAction[]): SmokeProbe[] {
  const never = { ConditionExpression: 'attribute_exists(pk)' };
  const probes: Record<TableAction, SmokeProbe> = {
    GetItem: { action: 'dynamodb:GetItem', run: () => store.ddb.send(new GetCommand({ TableName: store.tableName, Key: SMOKE_KEY })) },
    UpdateItem: {
      action: 'dynamodb:UpdateItem',
      authorizedWhen: ['ConditionalCheckFailedException'],
      run: () =>
        store.ddb.send(
          new UpdateCommand({ TableName: store.tableName, Key: SMOKE_KEY, UpdateExpression: 'SET probe = :p', ExpressionAttributeValues: { ':p': 1 }, ...never }),
        ),
    },
    PutItem: {
      action: 'dynamodb:PutItem',
      authorizedWhen: ['ConditionalCheckFailedException'],
      run: () => store.ddb.send(new PutCommand({ TableName: store.tableName, Item: { ...SMOKE_KEY }, ...never })),
    },
    // A read of the probe's own partition (no org's items live there).
    Query: {
      action: 'dynamodb:Query',
      run: () =>
        store.ddb.send(
          new QueryCommand({ TableName: store.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': SMOKE_KEY.pk }, Limit: 1 }),
        ),
    },
  };
  return actions.map((a) => probes[a]);
}

/** PutEvents of a `Smoke Test` event with the service's own source: no rule of this service routes it. */
export function eventProbe(events: EventBridgeClient, busName: string): SmokeProbe {
  return {
    action: 'events:PutEvents',
    run: async () => {
      const out = await events.send(
        new PutEventsCommand({ Entries: [{ Source: EVENT_SOURCE, DetailType: 'Smoke Test', Detail: '{}', EventBusName: busName }] }),
      );
      const failed = out.Entries?.find((e) => e.ErrorCode);
      if (out.FailedEntryCount || failed) throw Object.assign(new Error(failed?.ErrorMessage ?? 'entry refused'), { name: failed?.ErrorCode ?? 'PutEventsFailed' });
    },
  };
}

/** DescribeExecution of an execution that does not exist, under the onboarding state machine. */
export function describeExecutionProbe(sfn: SFNClient, stateMachineArn: string): SmokeProbe {
  const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:smoke-probe-${Date.now()}`;
  return {
    action: 'states:DescribeExecution',
    authorizedWhen: ['ExecutionDoesNotExist'],
    run: () => sfn.send(new DescribeExecutionCommand({ executionArn })),
  };
}

/** GetRole of a platform role name no org has. */
export function getPlatformRoleProbe(iam: IAMClient): SmokeProbe {
  return {
    action: 'iam:GetRole',
    authorizedWhen: ['NoSuchEntity', 'NoSuchEntityException'],
    run: () => iam.send(new GetRoleCommand({ RoleName: `binary_backend_${SMOKE_ORG_ID}_smoke` })),
  };
}

/** ListRolePolicies of a platform role name no org has (offboard: the read before it deletes a role's policies). */
export function listPlatformRolePoliciesProbe(iam: IAMClient): SmokeProbe {
  return {
    action: 'iam:ListRolePolicies',
    authorizedWhen: ['NoSuchEntity', 'NoSuchEntityException'],
    run: () => iam.send(new ListRolePoliciesCommand({ RoleName: `binary_backend_${SMOKE_ORG_ID}_smoke` })),
  };
}

/**
 * GetCallerIdentity, which needs no permission: the function reaches STS with its own credentials. (The
 * AssumeRole of a platform role is exercised only by a real onboarding: no harmless target exists.)
 */
export function stsIdentityProbe(sts: STSClient): SmokeProbe {
  return { action: 'sts:GetCallerIdentity', run: () => sts.send(new GetCallerIdentityCommand({})) };
}
