import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DescribeExecutionCommand, SFNClient, SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { requestApproval, type RequestApprovalDeps } from '../../functions/onboarding/request-approval/request-approval';
import { decideApproval, type DecideApprovalDeps } from '../../functions/approval/decide-approval';
import { createHandler as createDecideHandler } from '../../functions/approval/handler';
import { approvalPlan, approvalPolicyVariable, samePrincipal } from '#shared/approval';
import { orgPk } from '#shared/records/read';
import { getOrgRecord } from '#shared/records/read-sdk';
import { auditSk } from '#shared/records/audit';
import { ensureBackend, writePendingConfig } from '#shared/records/pending-writes';
import { loadConfig } from '#shared/config';
import { useRecordsTableAndEventBus } from './helpers/records-table';
import { ORG_ID, PLATFORM_ACCOUNT, ROLE_NAME, STATE_MACHINE_ARN, T0, config, context } from './helpers/fixtures';

const SUPPORT = `arn:aws:iam::${PLATFORM_ACCOUNT}:user/support`;
const APPROVER = `arn:aws:iam::${PLATFORM_ACCOUNT}:user/approver`;
const TOKEN = 'AQBtoken-of-the-waiting-task';

describe('Approval policy', () => {
  it('requires approval under always, under when-active only for an org routing to a custom backend, never under never', () => {
    const s = (policy: 'always' | 'when-active' | 'never') => ({ policy, timeoutSeconds: 600 });
    expect(approvalPlan(s('always'), undefined).required).toBe(true);
    expect(approvalPlan(s('always'), 'prod').required).toBe(true);
    expect(approvalPlan(s('when-active'), undefined).required).toBe(false);
    expect(approvalPlan(s('when-active'), 'prod')).toEqual({ required: true, policy: 'when-active', timeoutSeconds: 600, activeAtStart: 'prod' });
    expect(approvalPlan(s('never'), 'prod').required).toBe(false);
  });

  it('reads APPROVAL_POLICY, defaulting to when-active and naming the variable when it is not a policy', () => {
    expect(loadConfig({ APPROVAL_POLICY: approvalPolicyVariable }, {})).toEqual({ APPROVAL_POLICY: 'when-active' });
    expect(loadConfig({ APPROVAL_POLICY: approvalPolicyVariable }, { APPROVAL_POLICY: 'never' })).toEqual({ APPROVAL_POLICY: 'never' });
    expect(() => loadConfig({ APPROVAL_POLICY: approvalPolicyVariable }, { APPROVAL_POLICY: 'sometimes' })).toThrow(
      /APPROVAL_POLICY: must be one of always, when-active, never/,
    );
  });

  it('treats a claimed identity and the same verified one as one principal', () => {
    expect(samePrincipal(`claimed:${SUPPORT}`, SUPPORT)).toBe(true);
    expect(samePrincipal(SUPPORT, APPROVER)).toBe(false);
  });
});

describe('Functions: requestApproval and decideApproval', () => {
  const { table, eventsMock } = useRecordsTableAndEventBus();
  const sfnMock = mockClient(SFNClient);
  afterAll(() => sfnMock.restore());
  const now = new Date(T0.getTime() + 3_600_000);
  const ctx = context({ approval: { required: true, policy: 'when-active', timeoutSeconds: 600, activeAtStart: 'prod' } });
  const requestDeps = (): RequestApprovalDeps => ({ store: table, events: new EventBridgeClient({ region: 'us-east-1' }), eventBusName: 'bus', clock: () => now });
  const decideDeps = (): DecideApprovalDeps => ({ store: table, sfn: new SFNClient({ region: 'us-east-1' }), clock: () => now, stateMachineArn: STATE_MACHINE_ARN });
  const read = async () => (await getOrgRecord(table.ddb, table.tableName, ORG_ID))!;
  const audit = async (step: string) =>
    (await table.ddb.send(new GetCommand({ TableName: table.tableName, Key: { pk: orgPk(ORG_ID), sk: auditSk(ctx.executionName, step, 1) } }))).Item;

  /** What API Gateway's HTTP API (payload 2.0, AWS_IAM) hands the function. */
  function httpEvent(body: unknown, callerArn?: string) {
    return {
      version: '2.0',
      routeKey: 'POST /approvals',
      body: JSON.stringify(body),
      requestContext: { http: { method: 'POST', path: '/approvals' }, ...(callerArn ? { authorizer: { iam: { userArn: callerArn, accountId: PLATFORM_ACCOUNT } } } : {}) },
    };
  }

  async function verifiedPending(): Promise<void> {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ status: 'VERIFIED', requestedBy: SUPPORT }), now: T0 });
  }

  async function awaiting(): Promise<void> {
    await verifiedPending();
    await requestApproval({ taskToken: TOKEN, input: ctx }, requestDeps());
  }

  beforeEach(async () => {
    sfnMock.reset();
    sfnMock.on(DescribeExecutionCommand).resolves({ status: 'RUNNING', input: JSON.stringify({ orgId: ORG_ID, roleName: ROLE_NAME }) });
    sfnMock.on(SendTaskSuccessCommand).resolves({});
    sfnMock.on(SendTaskFailureCommand).resolves({});
  });

  describe('requestApproval', () => {
    it('records the token and AWAITING_APPROVAL, audits the request and emits Approval Requested without the token', async () => {
      await verifiedPending();

      const result = await requestApproval({ taskToken: TOKEN, input: ctx }, requestDeps());

      expect(result).toEqual({ requestedAt: now.toISOString(), expiresAt: new Date(now.getTime() + 600_000).toISOString() });
      const pending = (await read()).backends[ROLE_NAME]!.pending!;
      expect(pending).toMatchObject({ status: 'AWAITING_APPROVAL', approval: { requestedBy: SUPPORT, taskToken: TOKEN, expiresAt: result.expiresAt } });
      expect(await audit('RequestApproval')).toMatchObject({ detail: { requestedBy: SUPPORT, policy: 'when-active', activeBackend: 'prod' } });
      expect(JSON.stringify((await audit('RequestApproval'))!.detail)).not.toContain(TOKEN);
      const entry = eventsMock.commandCalls(PutEventsCommand)[0]!.args[0].input.Entries![0]!;
      expect(entry).toMatchObject({ Source: 'peridio.binary-backends', DetailType: 'Approval Requested' });
      expect(entry.Detail).not.toContain(TOKEN);
    });

    it('throws StaleExecutionError and writes nothing when another execution owns the pending config', async () => {
      await verifiedPending();
      const other = context({ configVersion: 2, approval: ctx.approval });

      await expect(requestApproval({ taskToken: TOKEN, input: other }, requestDeps())).rejects.toMatchObject({ name: 'StaleExecutionError' });

      expect((await read()).backends[ROLE_NAME]!.pending!.status).toBe('VERIFIED');
      expect(eventsMock.commandCalls(PutEventsCommand)).toHaveLength(0);
    });

    it('refuses a missing task token with a ValidationError naming it', async () => {
      await expect(requestApproval({ input: ctx }, requestDeps())).rejects.toMatchObject({ name: 'ValidationError', message: expect.stringMatching(/taskToken/) });
    });
  });

  describe('decideApproval', () => {
    it('approves: writes the decision (VERIFIED again, token removed), then SendTaskSuccess with approvedBy and approvedAt', async () => {
      await awaiting();

      const result = await decideApproval(httpEvent({ execution: ctx.executionName, decision: 'approve' }, APPROVER), decideDeps());

      expect(result).toMatchObject({ executionArn: ctx.executionArn, decision: 'APPROVED', decidedBy: APPROVER, requestedBy: SUPPORT });
      const sent = sfnMock.commandCalls(SendTaskSuccessCommand)[0]!.args[0].input;
      expect(sent.taskToken).toBe(TOKEN);
      expect(JSON.parse(sent.output!)).toEqual({ approvedBy: APPROVER, approvedAt: now.toISOString() });
      const pending = (await read()).backends[ROLE_NAME]!.pending!;
      expect(pending.status).toBe('VERIFIED');
      expect(pending.approval).toMatchObject({ decision: 'APPROVED', decidedBy: APPROVER, decidedAt: now.toISOString() });
      expect(pending.approval!.taskToken).toBeUndefined();
      expect(await audit('ApprovalDecision')).toMatchObject({ detail: { decision: 'APPROVED', decidedBy: APPROVER, requestedBy: SUPPORT } });
    });

    it('rejects: FAILED with ApprovalRejectedError and the reason, then SendTaskFailure with that error name', async () => {
      await awaiting();

      await decideApproval(httpEvent({ execution: ctx.executionArn, decision: 'reject', reason: 'wrong bucket' }, APPROVER), decideDeps());

      const sent = sfnMock.commandCalls(SendTaskFailureCommand)[0]!.args[0].input;
      expect(sent).toMatchObject({ taskToken: TOKEN, error: 'ApprovalRejectedError' });
      expect(sent.cause).toContain('wrong bucket');
      expect((await read()).backends[ROLE_NAME]!.pending).toMatchObject({
        status: 'FAILED',
        error: { name: 'ApprovalRejectedError' },
        approval: { decision: 'REJECTED', reason: 'wrong bucket' },
      });
    });

    it.each([
      ['a self-approval', SUPPORT, 'ApprovalNotAllowedError'],
      ['a self-approval by the claimed requester', `claimed:${SUPPORT}`, 'ApprovalNotAllowedError'],
      ['an unverified caller', undefined, 'ApprovalNotAllowedError'],
    ])('refuses %s with ApprovalNotAllowedError and changes nothing', async (_what, caller, error) => {
      await awaiting();
      const before = await read();

      await expect(decideApproval(httpEvent({ execution: ctx.executionName, decision: 'approve' }, caller), decideDeps())).rejects.toMatchObject({ name: error });

      expect(await read()).toEqual(before);
      expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
      expect(await audit('ApprovalDecision')).toBeUndefined();
    });

    it('refuses a direct invoke (no HTTP API identity) even when the body names a caller', async () => {
      await awaiting();
      await expect(decideApproval({ execution: ctx.executionName, decision: 'approve', decidedBy: APPROVER }, decideDeps())).rejects.toMatchObject({
        name: 'ApprovalNotAllowedError',
      });
    });

    it('refuses a finished, unknown or foreign execution, and one not awaiting approval, with ApprovalNotPendingError', async () => {
      await verifiedPending();
      const decide = (execution: string) => decideApproval(httpEvent({ execution, decision: 'approve' }, APPROVER), decideDeps());

      await expect(decide(ctx.executionName)).rejects.toMatchObject({ name: 'ApprovalNotPendingError', message: expect.stringMatching(/VERIFIED/) });
      await expect(decide('arn:aws:states:us-east-1:111111111111:execution:another-machine:x')).rejects.toMatchObject({ name: 'ApprovalNotPendingError' });
      sfnMock.on(DescribeExecutionCommand).resolves({ status: 'SUCCEEDED', input: '{}' });
      await expect(decide(ctx.executionName)).rejects.toMatchObject({ name: 'ApprovalNotPendingError', message: expect.stringMatching(/SUCCEEDED/) });
      sfnMock.on(DescribeExecutionCommand).rejects(Object.assign(new Error('Execution Does Not Exist'), { name: 'ExecutionDoesNotExist' }));
      await expect(decide(ctx.executionName)).rejects.toMatchObject({ name: 'ApprovalNotPendingError', message: expect.stringMatching(/does not exist/) });
      expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    });

    it('lets only one of two deciders win: the second finds it decided', async () => {
      await awaiting();
      await decideApproval(httpEvent({ execution: ctx.executionName, decision: 'approve' }, APPROVER), decideDeps());

      await expect(
        decideApproval(httpEvent({ execution: ctx.executionName, decision: 'reject' }, `arn:aws:iam::${PLATFORM_ACCOUNT}:user/third`), decideDeps()),
      ).rejects.toMatchObject({ name: 'ApprovalNotPendingError' });
      expect(sfnMock.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
    });

    it('answers the HTTP API (POST /approvals): 200 with the decision, 403 for a self-approval, 409 when not awaiting', async () => {
      await awaiting();
      const handler = createDecideHandler(decideDeps());
      const call = async (caller: string) =>
        (await handler(httpEvent({ execution: ctx.executionName, decision: 'approve' }, caller), {} as never)) as { statusCode: number; body: string };

      const self = await call(SUPPORT);
      expect(self.statusCode).toBe(403);
      expect(JSON.parse(self.body)).toMatchObject({ errorType: 'ApprovalNotAllowedError' });
      expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);

      const ok = await call(APPROVER);
      expect(ok.statusCode).toBe(200);
      expect(JSON.parse(ok.body)).toMatchObject({ decision: 'APPROVED', decidedBy: APPROVER });

      const again = await call(`arn:aws:iam::${PLATFORM_ACCOUNT}:user/third`);
      expect(again.statusCode).toBe(409);
      expect(JSON.parse(again.body)).toMatchObject({ errorType: 'ApprovalNotPendingError' });
    });

    it('reports a wait that already ended (TaskTimedOut) as ApprovalNotPendingError', async () => {
      await awaiting();
      sfnMock.on(SendTaskSuccessCommand).rejects(Object.assign(new Error('Task Timed Out'), { name: 'TaskTimedOut' }));

      await expect(decideApproval(httpEvent({ execution: ctx.executionName, decision: 'approve' }, APPROVER), decideDeps())).rejects.toMatchObject({
        name: 'ApprovalNotPendingError',
        message: expect.stringMatching(/TaskTimedOut/),
      });
    });

    it('refuses a reason with control characters, and an unknown decision, with ValidationError', async () => {
      await awaiting();
      await expect(
        decideApproval(httpEvent({ execution: ctx.executionName, decision: 'reject', reason: 'ok\u001b[2Jforged' }, APPROVER), decideDeps()),
      ).rejects.toMatchObject({ name: 'ValidationError', message: expect.stringMatching(/reason/) });
      await expect(decideApproval(httpEvent({ execution: ctx.executionName, decision: 'maybe' }, APPROVER), decideDeps())).rejects.toMatchObject({
        name: 'ValidationError',
        message: expect.stringMatching(/decision/),
      });
      expect((await read()).backends[ROLE_NAME]!.pending!.status).toBe('AWAITING_APPROVAL');
    });
  });
});
