import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
  type DescribeExecutionCommandInput,
  type SFNClientResolvedConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type StartExecutionCommandInput,
} from '@aws-sdk/client-sfn';
import { startOnboarding, type StarterDeps } from '../../functions/starter/starter';
import { createHandler } from '../../functions/starter/handler';
import { getOrgRecord } from '#shared/records/read-sdk';
import { ensureBackend, writePendingConfig } from '#shared/records/pending-writes';
import {
  CallerNotVerifiedError,
  ClaimedByAnotherOrgError,
  OnboardingInProgressError,
  RoleNameConflictError,
  TransientError,
  ValidationError,
} from '#shared/errors';
import { SUPPORT_ARN, httpApiEvent } from './helpers/http-api';
import { acquireClaims } from '#shared/claims';
import { startRecordsTable, type RecordsTable } from './helpers/records-table';
import { CUSTOMER_ROLE_ARN, ORG_ID, ROLE_NAME, STATE_MACHINE_ARN, T0, config, executionArnFor, nameFor } from './helpers/fixtures';

const request = (overrides: Record<string, unknown> = {}) => ({
  orgId: ORG_ID,
  roleName: ROLE_NAME,
  upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN },
  requestedBy: 'arn:aws:iam::111111111111:user/support',
  ...overrides,
});

/** A Step Functions that keeps executions in memory with AWS's naming rules (idempotent start while running). */
class FakeStepFunctions {
  executions = new Map<string, { status: string; input: string; startDate: Date }>();
  starts = 0;

  install(mock: AwsStub<ServiceInputTypes, ServiceOutputTypes, SFNClientResolvedConfig>) {
    mock.on(StartExecutionCommand).callsFake((input: StartExecutionCommandInput) => {
      this.starts += 1;
      const arn = executionArnFor(input.name!);
      const existing = this.executions.get(arn);
      if (existing) {
        if (existing.status === 'RUNNING' && existing.input === input.input) return { executionArn: arn, startDate: existing.startDate };
        throw new ExecutionAlreadyExists({ message: `Execution Already Exists: '${arn}'`, $metadata: {} });
      }
      this.executions.set(arn, { status: 'RUNNING', input: input.input!, startDate: T0 });
      return { executionArn: arn, startDate: T0 };
    });
    mock.on(DescribeExecutionCommand).callsFake((input: DescribeExecutionCommandInput) => {
      const e = this.executions.get(input.executionArn!);
      if (!e) throw new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });
      return { executionArn: input.executionArn, status: e.status, startDate: e.startDate, input: e.input };
    });
  }

  finish(version: number, status = 'SUCCEEDED') {
    this.executions.get(executionArnFor(nameFor(version)))!.status = status;
  }
}

describe('Function: startOnboarding', () => {
  const sfnMock = mockClient(SFNClient);
  let table: RecordsTable;
  let sfn: FakeStepFunctions;
  let now: Date;
  const deps = (): StarterDeps => ({ store: table, sfn: new SFNClient({ region: 'us-east-1' }), clock: () => now, stateMachineArn: STATE_MACHINE_ARN });
  const read = async () => (await getOrgRecord(table.ddb, table.tableName, ORG_ID))!;

  beforeAll(async () => {
    table = await startRecordsTable();
  });
  afterAll(async () => {
    sfnMock.restore();
    await table.stop();
  });
  beforeEach(async () => {
    sfnMock.reset();
    sfn = new FakeStepFunctions();
    sfn.install(sfnMock);
    now = T0;
    await table.clear();
  });

  it('refuses at once a customer role another org is onboarding, writing nothing and starting nothing', async () => {
    // Prepare: another org's running execution claimed the same role (a different bucket)
    const otherOrg = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
    const otherArn = executionArnFor(`${otherOrg}-prod-1`);
    sfn.executions.set(otherArn, { status: 'RUNNING', input: '{}', startDate: T0 });
    await acquireClaims(table, new SFNClient({ region: 'us-east-1' }), {
      orgId: otherOrg,
      roleName: 'prod',
      configVersion: 1,
      executionArn: otherArn,
      executionName: `${otherOrg}-prod-1`,
      roleArn: CUSTOMER_ROLE_ARN,
      bucket: 'their-bucket',
    }, T0);
    // Act / Assess
    await expect(startOnboarding(request(), deps())).rejects.toThrow(ClaimedByAnotherOrgError);
    expect(sfn.starts).toBe(0);
    expect(await getOrgRecord(table.ddb, table.tableName, ORG_ID)).toBeUndefined();
  });

  it('allocates version 1 and starts <orgId>-<roleName>-1 with the normalised request as input', async () => {
    // Act
    const result = await startOnboarding(request(), deps());
    // Assess
    expect(result).toEqual({
      executionArn: executionArnFor(nameFor(1)),
      executionName: nameFor(1),
      configVersion: 1,
      deduplicated: false,
      startedAt: T0.toISOString(),
    });
    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!);
    // A direct invoke names no verified caller: its requestedBy is recorded as a claim.
    expect(input).toEqual({ ...request(), requestedBy: `claimed:${request().requestedBy}`, download: { type: 's3' }, configVersion: 1 });
    expect((await read()).backends[ROLE_NAME]).toMatchObject({ lastConfigVersion: 1, inflight: { executionName: nameFor(1) } });
  });

  it('answers a double submit of the same request with the running execution', async () => {
    await startOnboarding(request(), deps());
    const again = await startOnboarding(request({ requestedBy: 'someone-else' }), deps());
    expect(again).toMatchObject({ executionName: nameFor(1), deduplicated: true });
    expect(sfn.executions.size).toBe(1);
  });

  it('starts one execution when the same request arrives twice at once', async () => {
    const results = await Promise.all([startOnboarding(request(), deps()), startOnboarding(request(), deps())]);
    expect(new Set(results.map((r) => r.executionName))).toEqual(new Set([nameFor(1)]));
    expect(results.filter((r) => r.deduplicated)).toHaveLength(1);
    expect(sfn.executions.size).toBe(1);
  });

  it('refuses a different request while one is in flight, naming the running execution', async () => {
    await startOnboarding(request(), deps());
    const other = startOnboarding(request({ upload: { bucket: 'other-bucket', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN } }), deps());
    await expect(other).rejects.toThrow(OnboardingInProgressError);
    await expect(other).rejects.toThrow(nameFor(1));
  });

  it('gives a retry after a finished or failed execution a new version and a new name', async () => {
    await startOnboarding(request(), deps());
    sfn.finish(1, 'FAILED');
    const retry = await startOnboarding(request(), deps());
    expect(retry).toMatchObject({ executionName: nameFor(2), configVersion: 2, deduplicated: false });
    sfn.finish(2, 'SUCCEEDED');
    await expect(startOnboarding(request({ download: { type: 's3' } }), deps())).resolves.toMatchObject({ configVersion: 3 });
  });

  it('accepts an Onboarding Requested event, recording the event source as a claimed requester by default', async () => {
    const { requestedBy: _ignored, ...detail } = request();
    const event = { version: '0', id: '1', 'detail-type': 'Onboarding Requested', source: 'peridio.support', detail };
    await startOnboarding(event, deps());
    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!);
    expect(input.requestedBy).toBe('claimed:eventbridge:peridio.support');
  });

  it('records the requestedBy an event names as claimed, never as a verified caller', async () => {
    const event = { 'detail-type': 'Onboarding Requested', source: 'peridio.support', account: '111111111111', detail: request({ requestedBy: 'arn:aws:iam::111111111111:user/boss' }) };
    await startOnboarding(event, deps());
    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!);
    expect(input.requestedBy).toBe('claimed:arn:aws:iam::111111111111:user/boss');
    expect((await read()).backends[ROLE_NAME]!.inflight!.requestedBy).toBe('claimed:arn:aws:iam::111111111111:user/boss');
  });

  it('records the API caller that API Gateway verified as the requester', async () => {
    const { requestedBy: _none, ...body } = request();
    await startOnboarding(httpApiEvent('POST /onboardings', body), deps());
    const input = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!);
    expect(input.requestedBy).toBe(SUPPORT_ARN);
  });

  it('refuses an API request whose body names its own requestedBy, starting nothing', async () => {
    const forged = httpApiEvent('POST /onboardings', request({ requestedBy: 'arn:aws:iam::111111111111:user/boss' }));
    const attempt = startOnboarding(forged, deps());
    await expect(attempt).rejects.toThrow(ValidationError);
    await expect(attempt).rejects.toThrow(/^requestedBy: /);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toEqual([]);
    expect(await getOrgRecord(table.ddb, table.tableName, ORG_ID)).toBeUndefined();
  });

  it('refuses an API request without an IAM identity (a route without AWS_IAM), writing nothing', async () => {
    const { requestedBy: _none, ...body } = request();
    await expect(startOnboarding(httpApiEvent('POST /onboardings', body, null), deps())).rejects.toThrow(CallerNotVerifiedError);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toEqual([]);
    expect(await getOrgRecord(table.ddb, table.tableName, ORG_ID)).toBeUndefined();
  });

  it('deduplicates an event and a CLI call for the same request', async () => {
    await startOnboarding(request(), deps());
    const event = { 'detail-type': 'Onboarding Requested', source: 'peridio.support', detail: request() };
    await expect(startOnboarding(event, deps())).resolves.toMatchObject({ deduplicated: true, executionName: nameFor(1) });
  });

  it('encodes role names with characters execution names may not hold', async () => {
    const result = await startOnboarding(request({ roleName: 'eu.prod' }), deps());
    expect(result.executionName).toBe(`${ORG_ID}-eu_2eprod-1`);
  });

  it('refuses a role name that differs only in case from an existing backend', async () => {
    await startOnboarding(request(), deps());
    await expect(startOnboarding(request({ roleName: 'PROD' }), deps())).rejects.toThrow(RoleNameConflictError);
  });

  it('refuses a bad request before writing or starting anything', async () => {
    await expect(startOnboarding(request({ roleName: 'much-too-long-name' }), deps())).rejects.toThrow(/roleName: must be 1-10/);
    await expect(startOnboarding({ 'detail-type': 'Onboarding Requested', detail: {} }, deps())).rejects.toThrow(ValidationError);
    expect(await getOrgRecord(table.ddb, table.tableName, ORG_ID)).toBeUndefined();
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('refuses input that can never be right for this stack before writing or starting anything', async () => {
    const platformRole = `arn:aws:iam::${STATE_MACHINE_ARN.split(':')[4]}:role/PeridioBinaries`;
    await expect(startOnboarding(request({ upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: platformRole } }), deps())).rejects.toThrow(
      /upload\.roleArn: must be a role in the customer's account/,
    );
    await expect(startOnboarding(request({ upload: { bucket: 'acme-firmware', region: 'cn-north-1', roleArn: CUSTOMER_ROLE_ARN } }), deps())).rejects.toThrow(
      /upload\.region: is in the aws-cn partition/,
    );
    await expect(startOnboarding(request({ roleName: '__proto__' }), deps())).rejects.toThrow(/roleName: must not be a reserved name/);
    const cloudFront = {
      type: 'cloudfront',
      host: '127.0.0.1:4709',
      keyPairId: 'K2JCJMDEHXQW5F',
      privateKeySecretArn: `arn:aws:secretsmanager:us-east-1:${STATE_MACHINE_ARN.split(':')[4]}:secret:binary-backends/test/x-AbCdEf`,
    };
    await expect(startOnboarding(request({ download: cloudFront }), { ...deps(), inputRules: { keySecretPrefix: 'binary-backends/test/' } })).rejects.toThrow(
      /download\.host: .*only for the local stack/,
    );
    await expect(
      startOnboarding(request({ download: cloudFront }), { ...deps(), inputRules: { keySecretPrefix: 'binary-backends/prod/', allowLoopbackHosts: true } }),
    ).rejects.toThrow(/download\.privateKeySecretArn: must be a secret of this stage/);
    expect(await getOrgRecord(table.ddb, table.tableName, ORG_ID)).toBeUndefined();
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });

  it('starts the claimed execution when an earlier starter claimed it but never started it', async () => {
    // Prepare: StartExecution fails once after the claim is written
    sfnMock.on(StartExecutionCommand).rejectsOnce(new SFNServiceException({ name: 'ServiceUnavailable', $fault: 'server', message: 'down', $metadata: { httpStatusCode: 503 } }));
    await expect(startOnboarding(request(), deps())).rejects.toThrow(TransientError);
    sfn.install(sfnMock);
    // Act
    const result = await startOnboarding(request(), deps());
    // Assess
    expect(result).toMatchObject({ executionName: nameFor(1), configVersion: 1 });
    expect(sfn.executions.size).toBe(1);
  });

  it('refuses a different request while a fresh claim is being started, then allows it once the claim is stale', async () => {
    sfnMock.on(StartExecutionCommand).rejectsOnce(new SFNServiceException({ name: 'ServiceUnavailable', $fault: 'server', message: 'down', $metadata: { httpStatusCode: 503 } }));
    await expect(startOnboarding(request(), deps())).rejects.toThrow(TransientError);
    sfn.install(sfnMock);
    const other = request({ upload: { bucket: 'other-bucket', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN } });
    await expect(startOnboarding(other, deps())).rejects.toThrow(OnboardingInProgressError);
    now = new Date(T0.getTime() + 120_000);
    await expect(startOnboarding(other, deps())).resolves.toMatchObject({ configVersion: 2 });
  });

  it('refuses while an execution started outside the starter holds the backend', async () => {
    await ensureBackend(table, { orgId: ORG_ID, roleName: ROLE_NAME, now: T0 });
    await writePendingConfig(table, { orgId: ORG_ID, roleName: ROLE_NAME, config: config({ configVersion: 9, executionName: 'manual-run' }), now: T0 });
    sfn.executions.set(executionArnFor('manual-run'), { status: 'RUNNING', input: '{}', startDate: T0 });
    await expect(startOnboarding(request(), deps())).rejects.toThrow(/manual-run/);
  });

  it('skips a version whose name was already used outside the starter', async () => {
    sfn.executions.set(executionArnFor(nameFor(1)), { status: 'SUCCEEDED', input: '{}', startDate: T0 });
    await expect(startOnboarding(request(), deps())).resolves.toMatchObject({ configVersion: 2, deduplicated: false });
  });

  it('turns a throttled DescribeExecution into TransientError', async () => {
    await startOnboarding(request(), deps());
    sfnMock.on(DescribeExecutionCommand).rejects(new SFNServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: {} }));
    await expect(startOnboarding(request(), deps())).rejects.toThrow(TransientError);
  });

  it('is reachable through the middy handler', async () => {
    const handler = createHandler(deps());
    await expect(handler(request(), {} as never)).resolves.toMatchObject({ configVersion: 1 });
  });

  it('answers the HTTP API with the result as a 200 JSON response', async () => {
    const { requestedBy: _none, ...body } = request();
    const response = (await createHandler(deps())(httpApiEvent('POST /onboardings', body), {} as never)) as { statusCode: number; body: string };
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ executionName: nameFor(1), configVersion: 1 });
  });

  it.each([
    ['a bad field', { roleName: 'x'.repeat(11) }, 400, 'ValidationError'],
    ['a body requestedBy', { requestedBy: 'someone' }, 400, 'ValidationError'],
  ])('answers the HTTP API with {errorType, errorMessage} and a 4xx for %s', async (_what, overrides, status, errorType) => {
    const { requestedBy: _none, ...body } = request();
    const response = (await createHandler(deps())(httpApiEvent('POST /onboardings', { ...body, ...overrides }), {} as never)) as {
      statusCode: number;
      body: string;
    };
    expect(response.statusCode).toBe(status);
    expect(JSON.parse(response.body)).toEqual({ errorType, errorMessage: expect.any(String) });
  });

  it('answers a conflicting onboarding on the HTTP API with 409 OnboardingInProgressError', async () => {
    await startOnboarding(request(), deps());
    const { requestedBy: _none, ...body } = request({ upload: { bucket: 'other-bucket', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN } });
    const response = (await createHandler(deps())(httpApiEvent('POST /onboardings', body), {} as never)) as { statusCode: number; body: string };
    expect(response.statusCode).toBe(409);
    expect(JSON.parse(response.body).errorType).toBe('OnboardingInProgressError');
  });

  it('answers an unexpected failure on the HTTP API with a 500 that does not echo the error text', async () => {
    sfnMock.on(StartExecutionCommand).rejects(new Error('secret-ish SDK detail'));
    const { requestedBy: _none, ...body } = request();
    const response = (await createHandler(deps())(httpApiEvent('POST /onboardings', body), {} as never)) as { statusCode: number; body: string };
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('secret-ish');
  });
});
