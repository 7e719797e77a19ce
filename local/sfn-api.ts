/**
 * The Step Functions wire operations (JSON 1.0, target prefix AWSStepFunctions) over the local executions
 * (local/stepfunctions.ts): StartExecution, DescribeExecution, ListExecutions, GetExecutionHistory,
 * StopExecution, DescribeStateMachine, ListStateMachines, SendTaskSuccess / SendTaskFailure /
 * SendTaskHeartbeat. Reads each request's fields, answers in AWS's shapes (epoch-second dates, pages of at
 * most 100 by default with an opaque nextToken).
 *
 * One reason to change: the SFN API's request and response shapes. How executions run is
 * local/stepfunctions.ts; what their history holds is local/sfn-history.ts.
 */
import { readFile } from 'node:fs/promises';
import { AwsError } from './aws-protocol';
import { epoch, str, type JsonOperation } from './json-service';
import { stripData } from './sfn-history';
import type { Execution, LocalStepFunctions } from './stepfunctions';

function summary(e: Execution) {
  return {
    executionArn: e.executionArn,
    stateMachineArn: e.stateMachineArn,
    name: e.name,
    status: e.status,
    startDate: epoch(e.startDate),
    ...(e.stopDate ? { stopDate: epoch(e.stopDate) } : {}),
  };
}

export function stepFunctionsApi(sfn: LocalStepFunctions): Record<string, JsonOperation> {
  const { stateMachineArn, stateMachineName, roleArn, aslPath, createdAt } = sfn.machine;
  return {
    StartExecution: async (input) => {
      const e = await sfn.start({
        stateMachineArn: str(input, 'stateMachineArn'),
        name: str(input, 'name', false) || undefined,
        input: typeof input.input === 'string' ? input.input : undefined,
      });
      return { executionArn: e.executionArn, startDate: epoch(e.startDate) };
    },
    DescribeExecution: (input) => {
      const e = sfn.execution(str(input, 'executionArn'));
      return {
        ...summary(e),
        input: e.input,
        inputDetails: { included: true },
        ...(e.output !== undefined ? { output: e.output, outputDetails: { included: true } } : {}),
        ...(e.error !== undefined ? { error: e.error } : {}),
        ...(e.cause !== undefined ? { cause: e.cause } : {}),
        redriveCount: 0,
        redriveStatus: 'NOT_REDRIVABLE',
      };
    },
    ListExecutions: (input) => {
      const smArn = str(input, 'stateMachineArn');
      if (smArn !== stateMachineArn) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${smArn}'`, 400);
      const filter = str(input, 'statusFilter', false);
      const all = [...sfn.executions.values()]
        .filter((e) => !filter || e.status === filter)
        .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
      return paginate(all.map((e) => summary(e)), input, 'executions', 100);
    },
    GetExecutionHistory: (input) => {
      const e = sfn.execution(str(input, 'executionArn'));
      const includeData = input.includeExecutionData !== false;
      let events = e.history.map((h) => ({ ...h, timestamp: epoch(h.timestamp) }) as Record<string, unknown>);
      if (!includeData) events = events.map(stripData);
      if (input.reverseOrder === true) events = events.reverse();
      return paginate(events, input, 'events', 100);
    },
    StopExecution: (input) => {
      const e = sfn.stop(str(input, 'executionArn'), str(input, 'error', false) || undefined, str(input, 'cause', false) || undefined);
      return { stopDate: epoch(e.stopDate ?? new Date()) };
    },
    DescribeStateMachine: async (input) => {
      const arn = str(input, 'stateMachineArn');
      if (arn !== stateMachineArn) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`, 400);
      let definition = '';
      try {
        definition = await readFile(aslPath, 'utf8');
      } catch {
        // not written yet
      }
      return {
        stateMachineArn,
        name: stateMachineName,
        status: 'ACTIVE',
        definition,
        roleArn,
        type: 'STANDARD',
        creationDate: epoch(createdAt),
      };
    },
    SendTaskSuccess: (input) => {
      sfn.tokens.succeed(str(input, 'taskToken'), str(input, 'output'));
      return {};
    },
    SendTaskFailure: (input) => {
      sfn.tokens.fail(str(input, 'taskToken'), str(input, 'error', false) || undefined, str(input, 'cause', false) || undefined);
      return {};
    },
    SendTaskHeartbeat: (input) => {
      sfn.tokens.heartbeat(str(input, 'taskToken'));
      return {};
    },
    ListStateMachines: () => ({
      stateMachines: [{ stateMachineArn, name: stateMachineName, type: 'STANDARD', creationDate: epoch(createdAt) }],
    }),
  };
}

function paginate<T>(items: T[], input: Record<string, unknown>, field: string, defaultMax: number): Record<string, unknown> {
  const max = typeof input.maxResults === 'number' && input.maxResults > 0 ? Math.min(input.maxResults, 1000) : defaultMax;
  const start = typeof input.nextToken === 'string' ? Number(Buffer.from(input.nextToken, 'base64').toString('utf8')) || 0 : 0;
  const page = items.slice(start, start + max);
  const next = start + max < items.length ? Buffer.from(String(start + max)).toString('base64') : undefined;
  return { [field]: page, ...(next ? { nextToken: next } : {}) };
}
