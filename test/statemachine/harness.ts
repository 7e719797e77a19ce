/**
 * Runs the REAL `statemachine/onboarding.asl.json` with aws-local-stepfunctions, each Task bound to the
 * REAL Lambda handler (`createHandler(deps)`), DynamoDB in-process (dynalite), the other AWS services
 * faked (fake-cloud.ts), and a simulated clock.
 *
 * How time works: aws-local-stepfunctions' `waitTimeOverrides` makes WaitForTrust return at once, and the
 * harness moves the simulated clock to the `$.trust.nextCheckAt` CheckTrust chose before the next
 * CheckTrust runs. So a 7-day wait runs in well under a second, and every handler sees the time it would
 * see in AWS. Retry intervals are overridden to 0 ms (their seconds are not added to the clock).
 *
 * How Lambda is modelled: each Task runs through local/task-bridge.ts, the bridge the local stack uses too:
 * input and output go through JSON (as over the Invoke API), and a thrown error reaches the Catch as AWS
 * passes it, Error = its name, Cause = the JSON `{errorType, errorMessage, trace}` (Lambda drops custom
 * properties).
 * `failInvocations` makes the Lambda service itself fail an invocation (e.g. `Lambda.ServiceException`)
 * before the handler runs.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { IAMClient } from '@aws-sdk/client-iam';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { STSClient } from '@aws-sdk/client-sts';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { OrgRecord, RecordStore } from '#shared/records/model';
import { orgPk } from '#shared/records/read';
import { getOrgRecord } from '#shared/records/read-sdk';
import { auditSk } from '#shared/records/audit';
import { CloudFrontKeyCache, sdkGetSecret } from '#shared/cloudfront-keys';
import { documentClientReader } from '#shared/records/location-read-sdk';
import { CredentialBroker, type AwsCredentials } from '#shared/credential-broker';
import { executionName as executionNameFor } from '#shared/identifiers';
import { createHandler as recordConfigHandler } from '../../functions/onboarding/record-config/handler';
import { createHandler as createPlatformRoleHandler } from '../../functions/onboarding/create-platform-role/handler';
import { createHandler as checkTrustHandler } from '../../functions/onboarding/check-trust/handler';
import { createHandler as verifyUploadHandler } from '../../functions/onboarding/verify-upload/handler';
import { createHandler as verifyDownloadHandler } from '../../functions/onboarding/verify-download/handler';
import { createHandler as cleanupHandler } from '../../functions/onboarding/cleanup/handler';
import { createHandler as activateHandler } from '../../functions/onboarding/activate/handler';
import { createHandler as recordFailureHandler } from '../../functions/onboarding/record-failure/handler';
import { recorderFor } from '#shared/canary';
import { createHandler as starterHandler } from '../../functions/starter/handler';
import type { StartResult } from '../../functions/starter/starter';
import { createUrlSigner, type SignResponse } from '../../functions/signing/sign-url';
import { createHandler as statusChangeHandler } from '../../functions/onboarding/execution-status-change/handler';
import dynalite from 'dynalite';
import type { AddressInfo } from 'node:net';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createRecordsTable } from '../../local/records-table';
import { FUNCTIONS as CATALOG } from '../../functions/catalog.cjs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CUSTOMER_ROLE_ARN, FakeCloud, PLATFORM_ACCOUNT, SimClock, awsError, fakeClient } from './fake-cloud';
import { TaskTokens, detachTaskTimeout, waitForTaskTokenFunction, type WaitingTask } from '../../local/task-tokens';
import { lambdaErrorPayload, runLambdaTask } from '../../local/task-bridge';
import { createHandler as requestApprovalHandler } from '../../functions/onboarding/request-approval/handler';
import { createHandler as decideApprovalHandler } from '../../functions/approval/handler';
import type { DecisionResult } from '../../functions/approval/decide-approval';
import type { ApprovalPolicy } from '#shared/approval';
import { sdkS3Objects } from '../unit/helpers/sdk-s3-objects';

export const ORG_ID = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
export const ROLE_NAME = 'prod';
export const STATE_MACHINE_ARN = `arn:aws:states:us-east-1:${PLATFORM_ACCOUNT}:stateMachine:binary-backends-local-onboarding`;
export const T0 = new Date('2026-11-30T08:00:00.000Z');
export const CLOUDFRONT_SECRET_ARN = `arn:aws:secretsmanager:us-east-1:${PLATFORM_ACCOUNT}:secret:binary-backends/${ORG_ID}/prod-cf-AbCdEf`;

const RAW_DEFINITION = JSON.parse(readFileSync(new URL('../../statemachine/onboarding.asl.json', import.meta.url), 'utf8')) as {
  States: Record<string, Record<string, unknown>>;
};
/** Timeouts of the waitForTaskToken states, which the harness enforces itself (local/task-tokens.ts). */
const TOKEN_WAIT_TIMEOUTS: Record<string, { seconds?: number; path?: string }> = {};
for (const [name, state] of Object.entries(RAW_DEFINITION.States)) {
  if (waitForTaskTokenFunction(state)) TOKEN_WAIT_TIMEOUTS[name] = detachTaskTimeout(state);
}
const DEFINITION = RAW_DEFINITION as unknown as StateMachineDefinition;

/** Constructing a StateMachine validates the definition (about a second); runs share one, they keep no state in it. */
let machine: StateMachine | undefined;

interface RecordsTable extends RecordStore {
  stop(): Promise<void>;
}

/** One in-process dynalite per test process (unref'd, so it never holds the process open), one table per harness. */
let dynaliteEndpoint: Promise<string> | undefined;
function dynaliteServer(): Promise<string> {
  return (dynaliteEndpoint ??= new Promise<string>((resolve) => {
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  }));
}

async function startTable(): Promise<RecordsTable> {
  const raw = new DynamoDBClient({ endpoint: await dynaliteServer(), region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const tableName = `binary-backends-sm-${randomUUID().slice(0, 8)}`;
  await createRecordsTable(raw, tableName);

  return {
    ddb: DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } }),
    tableName,
    async stop() {
      await raw.send(new DeleteTableCommand({ TableName: tableName }));
      raw.destroy();
    },
  };
}

/**
 * The Task states, from the function catalog (each function's `task`; test/unit/function-catalog.test.ts
 * checks them against the ASL). The harness wires each one's real handler in `bindHandlers`, and refuses to
 * start when that wiring and the catalog disagree.
 */
export const TASK_STATES = CATALOG.flatMap((f) => (f.task ? [f.task] : []));
/** A Task state name (the catalog's `task`, e.g. `RecordConfig`). */
export type TaskState = string;

/** What a test reads after an execution: its status, output or error, and the whole event log. */
export interface ExecutionResult {
  executionArn: string;
  name: string;
  status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  output?: unknown;
  error?: string;
  cause?: string;
  events: LoggedEvent[];
}

/** One aws-local-stepfunctions event, as plain JSON. */
export interface LoggedEvent {
  type: string;
  state?: { name: string; type: string; input?: unknown; output?: unknown };
  Error?: string;
  Cause?: unknown;
  input?: unknown;
  output?: unknown;
  [k: string]: unknown;
}

interface RunningExecution {
  arn: string;
  name: string;
  input: string;
  startDate: Date;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  abort: () => void;
  done: Promise<ExecutionResult>;
}

/** Every execution input, output and event any harness produced (plus records and events), for the secret scan. */
export const producedArtifacts: unknown[] = [];
/** Every secret the fakes handed out: the scan looks for these literally, besides generic patterns. */
export const issuedSecrets: string[] = [];

/** The execution input support would send: S3 download by default. */
export function executionInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    orgId: ORG_ID,
    roleName: ROLE_NAME,
    configVersion: 1,
    requestedBy: `arn:aws:iam::${PLATFORM_ACCOUNT}:user/support`,
    upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE_ARN, prefix: 'firmware/' },
    download: { type: 's3' },
    ...overrides,
  };
}

export function cloudFrontDownload(host: string): Record<string, unknown> {
  return { type: 'cloudfront', host, keyPairId: 'K2JCJMDEHXQW5F', hashAlgorithm: 'SHA1', privateKeySecretArn: CLOUDFRONT_SECRET_ARN, ttlSeconds: 900 };
}

function lambdaContext(state: string): Context {
  const functionName = `binary-backends-local-${state.replace(/[A-Z]/g, (c, i: number) => (i ? '-' : '') + c.toLowerCase())}`;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:${PLATFORM_ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * The error the caller of a direct Invoke (the CLI, the HTTP API) sees: the function's errorType and
 * errorMessage, as Lambda reports them; nothing else survives. (Tasks fail through local/task-bridge.ts.)
 */
function asInvokeError(err: unknown): Error {
  const { errorType, errorMessage } = lambdaErrorPayload(err);
  const e = new Error(errorMessage);
  e.name = errorType;
  return e;
}

const json = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

export interface HarnessOptions {
  start?: Date;
  /**
   * The stage's APPROVAL_POLICY. Default `never` (the local demo's), so tests about other things run
   * re-onboardings without an approver; test/statemachine/approval.test.ts sets each policy.
   */
  approvalPolicy?: ApprovalPolicy;
  /** APPROVAL_TIMEOUT_SECONDS (default 3 days). */
  approvalTimeoutSeconds?: number;
}

/** The support persona who starts onboardings in these tests (executionInput's requestedBy). */
export const SUPPORT_ARN = `arn:aws:iam::${PLATFORM_ACCOUNT}:user/support`;
/** A second principal who may approve. */
export const APPROVER_ARN = `arn:aws:iam::${PLATFORM_ACCOUNT}:user/approver`;

export class Harness {
  readonly clock: SimClock;
  readonly cloud: FakeCloud;
  readonly table: RecordsTable;
  readonly store: RecordStore;
  readonly executions = new Map<string, RunningExecution>();
  /** Lambda-service failures to inject, per state, consumed one per invocation. */
  readonly failInvocations: Partial<Record<TaskState, string[]>> = {};
  /** Failures to report AFTER the handler ran (its side effects happened), e.g. `States.Timeout`; one per invocation. */
  readonly failAfterTask: Partial<Record<TaskState, string[]>> = {};
  /** Called with a Task's input before its handler runs (to look at the record mid-run, or abort). */
  readonly beforeTask: Partial<Record<TaskState, (input: Record<string, unknown>, execution: RunningExecution) => Promise<void> | void>> = {};
  /** How many times each Task's handler ran, per execution name. */
  readonly invocations = new Map<string, Record<string, number>>();
  readonly sfn: SFNClient;
  /** waitForTaskToken support (aws-local-stepfunctions has none). */
  readonly tokens = new TaskTokens();
  private readonly approval: { policy: ApprovalPolicy; timeoutSeconds: number };
  private readonly machine = (machine ??= new StateMachine(DEFINITION));
  private readonly handlers: Record<TaskState, (event: unknown, context: Context) => Promise<unknown>>;

  private constructor(table: RecordsTable, opts: HarnessOptions) {
    this.table = table;
    this.store = { ddb: table.ddb, tableName: table.tableName };
    this.clock = new SimClock(opts.start ?? T0);
    this.approval = { policy: opts.approvalPolicy ?? 'never', timeoutSeconds: opts.approvalTimeoutSeconds ?? 3 * 24 * 3600 };
    this.cloud = new FakeCloud({ orgId: ORG_ID, clock: this.clock });
    this.cloud.secrets.set(CLOUDFRONT_SECRET_ARN, this.cloud.cloudFront.privateKeyPem);
    this.sfn = this.fakeSfn();
    this.handlers = this.bindHandlers();
    const wired = Object.keys(this.handlers).sort();
    if (JSON.stringify(wired) !== JSON.stringify([...TASK_STATES].sort())) {
      throw new Error(`Harness: the wired Task handlers [${wired.join(', ')}] are not the catalog's Tasks [${[...TASK_STATES].sort().join(', ')}]`);
    }
  }

  static async start(opts: HarnessOptions = {}): Promise<Harness> {
    return new Harness(await startTable(), opts);
  }

  async stop(): Promise<void> {
    for (const e of this.executions.values()) if (e.status === 'RUNNING') e.abort();
    await Promise.allSettled([...this.executions.values()].map((e) => e.done));
    // What else the workflow wrote, for the secret scan: every DynamoDB item and every EventBridge event.
    const items = await this.table.ddb.send(new ScanCommand({ TableName: this.table.tableName }));
    producedArtifacts.push({ dynamodbItems: items.Items ?? [], events: this.cloud.events });
    for (const issued of this.cloud.issued.values()) issuedSecrets.push(issued.secretAccessKey, issued.sessionToken);
    issuedSecrets.push(this.cloud.cloudFront.privateKeyPem);
    await this.table.stop();
  }

  /** An audit event `EVENT#<executionName>#<step>#<attempt>`, or undefined. */
  async audit(executionName: string, step: string, attempt = 1): Promise<Record<string, unknown> | undefined> {
    const out = await this.table.ddb.send(new GetCommand({ TableName: this.table.tableName, Key: { pk: orgPk(ORG_ID), sk: auditSk(executionName, step, attempt) } }));
    return out.Item;
  }

  /** The real handlers, each with a fresh credential broker (like separate Lambda containers). */
  private bindHandlers(): Record<TaskState, (event: unknown, context: Context) => Promise<unknown>> {
    const cloud = this.cloud;
    const clock = this.clock.now;
    const store = this.store;
    const broker = () =>
      new CredentialBroker({
        sts: () => cloud.sts<STSClient>(),
        stsWith: (c: AwsCredentials) => cloud.sts<STSClient>(c),
        clock,
      });
    const customer = () => {
      const b = broker();
      return (chain: Parameters<CredentialBroker['customerCredentials']>[0]) => b.customerCredentials(chain);
    };
    const s3 = (region: string, credentials: AwsCredentials) => sdkS3Objects(cloud.s3<S3Client>(region, credentials));
    const secrets = cloud.secretsManager<SecretsManagerClient>();
    // This harness's own key cache, as each VerifyDownload container has its own.
    const cloudFrontKeys = new CloudFrontKeyCache({ getSecret: sdkGetSecret(secrets) });
    return {
      RecordConfig: recordConfigHandler({ store, sfn: this.sfn, clock, platformAccountId: PLATFORM_ACCOUNT, approval: this.approval }),
      RequestApproval: requestApprovalHandler({ store, events: cloud.eventBridge<EventBridgeClient>(), eventBusName: 'binary-backends-local', clock }),
      CreatePlatformRole: createPlatformRoleHandler({
        iam: cloud.iam<IAMClient>(),
        events: cloud.eventBridge<EventBridgeClient>(),
        store,
        clock,
        sleep: async (ms) => this.clock.advanceSeconds(ms / 1000),
        config: {
          platformAccountId: PLATFORM_ACCOUNT,
          trustedPrincipalPattern: `arn:aws:iam::${PLATFORM_ACCOUNT}:role/binary-backends-local-*`,
          permissionsBoundaryArn: `arn:aws:iam::${PLATFORM_ACCOUNT}:policy/binary-backends-local-boundary`,
          propagationDelaySeconds: 10,
          stage: 'local',
          eventBusName: 'binary-backends-local',
        },
      }),
      CheckTrust: checkTrustHandler({
        sts: () => cloud.sts<STSClient>(),
        stsWith: (c) => cloud.sts<STSClient>(c),
        store,
        clock,
        platformRoleGraceSeconds: 300,
        emitMetric: () => undefined,
      }),
      VerifyUpload: verifyUploadHandler({ customerCredentials: customer(), s3, clock, records: recorderFor(store) }),
      VerifyDownload: verifyDownloadHandler({
        customerCredentials: customer(),
        cloudFrontKey: (arn, versionId) => cloudFrontKeys.get(arn, versionId),
        fetch: (url) => cloud.fetch(url),
        clock,
        records: recorderFor(store),
      }),
      Cleanup: cleanupHandler({ customerCredentials: customer(), s3, clock }),
      Activate: activateHandler({
        store,
        iam: cloud.iam<IAMClient>(),
        events: cloud.eventBridge<EventBridgeClient>(),
        eventBusName: 'binary-backends-local',
        clock,
        sleep: async () => undefined,
        emitMetric: () => undefined,
      }),
      RecordFailure: recordFailureHandler({ store, events: cloud.eventBridge<EventBridgeClient>(), eventBusName: 'binary-backends-local', clock }),
    } as Record<TaskState, (event: unknown, context: Context) => Promise<unknown>>;
  }

  private localHandlers(execution: RunningExecution) {
    const counts: Record<string, number> = {};
    this.invocations.set(execution.name, counts);
    return Object.fromEntries(
      TASK_STATES.map((state) => [
        state,
        async (input: unknown) => {
          const failure = this.failInvocations[state]?.shift();
          if (failure) {
            const e = new Error(`Injected: the Lambda service failed to invoke ${state}`);
            e.name = failure;
            throw e;
          }
          if (TOKEN_WAIT_TIMEOUTS[state]) return this.waitForTaskToken(state, input as Record<string, unknown>, execution, counts);
          const event = json(input) as Record<string, unknown>;
          if (state === 'CheckTrust') this.waitUntilNextCheck(event, 'trust');
          if (state === 'VerifyDownload') this.waitUntilNextCheck(event, 'verifyDownload');
          await this.beforeTask[state]?.(event, execution);
          counts[state] = (counts[state] ?? 0) + 1;
          const result = await runLambdaTask((e) => this.handlers[state]!(e, lambdaContext(state)), event);
          const after = this.failAfterTask[state]?.shift();
          if (after) {
            const e = new Error(`Injected: ${state} ran, then failed with ${after}`);
            e.name = after;
            throw e;
          }
          return result as never;
        },
      ]),
    );
  }

  /**
   * A `lambda:invoke.waitForTaskToken` Task: invoke the function with the Payload (its result is only
   * submitted, not the state's result), then wait on the token for SendTaskSuccess / SendTaskFailure, or
   * `expireApproval`. The result is the output sent with SendTaskSuccess.
   */
  private async waitForTaskToken(
    state: TaskState,
    parameters: Record<string, unknown>,
    execution: RunningExecution,
    counts: Record<string, number>,
  ): Promise<unknown> {
    const payload = json(parameters.Payload) as Record<string, unknown>;
    await this.beforeTask[state]?.(payload, execution);
    counts[state] = (counts[state] ?? 0) + 1;
    const token = String(payload.taskToken);
    await runLambdaTask((e) => this.handlers[state]!(e, lambdaContext(state)), payload);
    const outcome = await this.tokens.wait(token, { executionArn: execution.arn, stateName: state, now: this.clock.now() });
    if (outcome.ok) return JSON.parse(outcome.output) as unknown;
    const e = new Error(outcome.cause);
    e.name = outcome.error;
    throw e;
  }

  /** Resolves when the execution waits in a waitForTaskToken state (RequestApproval). */
  awaitingApproval(executionArn: string): Promise<WaitingTask> {
    return this.tokens.waitingFor(executionArn);
  }

  /** The approval wait's timeout passes: the clock moves past it and the task fails with States.Timeout. */
  async expireApproval(executionArn: string): Promise<void> {
    const task = await this.awaitingApproval(executionArn);
    this.clock.advanceSeconds(this.approval.timeoutSeconds + 1);
    this.tokens.expire(task.token);
  }

  /**
   * Invokes the real decideApproval Lambda the way API Gateway's HTTP API (AWS_IAM) does: payload 2.0 with
   * the verified caller in `requestContext.authorizer.iam`. `callerArn: undefined` sends no identity.
   */
  async decide(
    executionArn: string,
    callerArn: string | undefined,
    decision: 'approve' | 'reject',
    reason?: string,
  ): Promise<DecisionResult> {
    const handler = decideApprovalHandler({ store: this.store, sfn: this.sfn, clock: this.clock.now, stateMachineArn: STATE_MACHINE_ARN });
    const event = {
      version: '2.0',
      routeKey: 'POST /approvals',
      rawPath: '/approvals',
      body: JSON.stringify({ execution: executionArn, decision, ...(reason !== undefined ? { reason } : {}) }),
      isBase64Encoded: false,
      requestContext: {
        accountId: PLATFORM_ACCOUNT,
        http: { method: 'POST', path: '/approvals' },
        ...(callerArn ? { authorizer: { iam: { userArn: callerArn, accountId: PLATFORM_ACCOUNT, callerId: 'AIDAEXAMPLE' } } } : {}),
      },
    };
    let response: DecisionResult | { statusCode: number; body: string };
    try {
      response = await handler(event, lambdaContext('DecideApproval'));
    } catch (err) {
      throw asInvokeError(err);
    }
    // The function answers the HTTP API with an HTTP response (http-api.ts): a refusal is `{errorType, errorMessage}`.
    if ('statusCode' in response) {
      const body = JSON.parse(response.body) as DecisionResult & { errorType?: string; errorMessage?: string };
      if (response.statusCode === 200) return body;
      const refused = new Error(body.errorMessage ?? `HTTP ${response.statusCode}`);
      refused.name = body.errorType ?? 'Error';
      throw Object.assign(refused, { statusCode: response.statusCode });
    }
    return json(response);
  }

  /**
   * WaitForTrust (WaitForCloudFront) took `waitSeconds` in AWS: move the simulated clock to the check
   * CheckTrust (VerifyDownload) scheduled in `$.trust` (`$.verifyDownload`).
   */
  private waitUntilNextCheck(event: Record<string, unknown>, field: 'trust' | 'verifyDownload'): void {
    const next = (event[field] as { nextCheckAt?: string } | undefined)?.nextCheckAt;
    if (next && Date.parse(next) > this.clock.now().getTime()) this.clock.set(new Date(next));
  }

  /** Starts an execution of the real state machine; `name` defaults to the starter's naming. */
  start(input: Record<string, unknown>, name?: string): RunningExecution {
    const execName = name ?? executionNameFor(String(input.orgId), String(input.roleName), Number(input.configVersion));
    const arn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${execName}`;
    const execution = { arn, name: execName, input: JSON.stringify(input), startDate: this.clock.now(), status: 'RUNNING' } as RunningExecution;
    this.executions.set(arn, execution);
    const run = this.machine.run(json(input) as never, {
      overrides: {
        taskResourceLocalHandlers: this.localHandlers(execution) as never,
        waitTimeOverrides: { WaitForTrust: 0, WaitForCloudFront: 0 },
        retryIntervalOverrides: Object.fromEntries(TASK_STATES.map((s) => [s, 0])),
      },
      context: { Execution: { Id: arn, Name: execName }, Task: this.tokens.contextTask() },
      noThrowOnAbort: true,
    });
    execution.abort = () => {
      run.abort();
      this.tokens.endExecution(arn);
    };
    execution.done = (async () => {
      let status: ExecutionResult['status'] = 'SUCCEEDED';
      let output: unknown;
      let error: string | undefined;
      let cause: string | undefined;
      try {
        output = await run.result;
      } catch (err) {
        status = 'FAILED';
        const c = (err as { cause?: { name?: string; message?: string } }).cause;
        error = c?.name ?? (err as Error).name;
        cause = c?.message ?? (err as Error).message;
      }
      const events: LoggedEvent[] = [];
      for await (const e of run.eventLogs) events.push(json(e) as unknown as LoggedEvent);
      if (events.some((e) => e.type === 'ExecutionAborted')) status = 'ABORTED';
      execution.status = status;
      producedArtifacts.push({ executionArn: arn, input, output, error, cause, events });
      return { executionArn: arn, name: execName, status, output, error, cause, events };
    })();
    return execution;
  }

  /** Invokes the real starter Lambda (what the CLI and the *Onboarding Requested* rule call). */
  async starter(request: Record<string, unknown>): Promise<StartResult> {
    const handler = starterHandler({ store: this.store, sfn: this.sfn, clock: this.clock.now, stateMachineArn: STATE_MACHINE_ARN });
    try {
      return json(await handler(json(request), lambdaContext('Starter'))) as StartResult; // a direct invoke: never the HTTP API shape
    } catch (err) {
      throw asInvokeError(err);
    }
  }

  /** Delivers the EventBridge *Step Functions Execution Status Change* event for an execution to its rule's Lambda. */
  async statusChange(executionArn: string, status: 'ABORTED' | 'TIMED_OUT' | 'FAILED', error?: string): Promise<unknown> {
    const e = this.executions.get(executionArn)!;
    const handler = statusChangeHandler({ store: this.store, events: this.cloud.eventBridge<EventBridgeClient>(), eventBusName: 'binary-backends-local', clock: this.clock.now });
    const event = {
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      detail: { executionArn, stateMachineArn: STATE_MACHINE_ARN, name: e.name, status, input: e.input, ...(error ? { error } : {}) },
    };
    return json(await handler(event, lambdaContext('ExecutionStatusChange')));
  }

  /**
   * What a device would be given right now: the real signer (no route cache) signing a download for `key`,
   * and what fetching that URL returns.
   */
  async deviceDownload(key: string): Promise<{ response: SignResponse; status: number; body: string }> {
    const cloud = this.cloud;
    const signer = createUrlSigner({
      items: documentClientReader(this.store.ddb),
      tableName: this.store.tableName,
      getSecret: sdkGetSecret(cloud.secretsManager<SecretsManagerClient>()),
      broker: new CredentialBroker({ sts: () => cloud.sts<STSClient>(), stsWith: (c) => cloud.sts<STSClient>(c), clock: this.clock.now }),
      clock: this.clock.now,
      settings: {
        defaultBucket: 'peridio-binaries-local',
        defaultBucketRegion: 'us-east-1',
        defaultSignerRoleArn: `arn:aws:iam::${PLATFORM_ACCOUNT}:role/binary-backends-local-default-storage-signer`,
        configCacheTtlSeconds: 0,
      },
    });
    const response = json(await signer.sign({ orgId: ORG_ID, operation: 'download', keys: [key] }));
    const res = await cloud.fetch(response.urls[0]!.url);
    return { response, status: res.status, body: await res.text() };
  }

  /** Starts an execution and waits for it to end. */
  run(input: Record<string, unknown>, name?: string): Promise<ExecutionResult> {
    return this.start(input, name).done;
  }

  /** The org's record, read consistently. */
  async record(): Promise<OrgRecord> {
    const r = await getOrgRecord(this.store.ddb, this.store.tableName, ORG_ID);
    if (!r) throw new Error('no org record');
    return r;
  }

  /** A Step Functions API over the harness's executions (StartExecution idempotency as AWS documents it). */
  private fakeSfn(): SFNClient {
    return fakeClient<SFNClient>({
      DescribeExecution: (i) => {
        const e = this.executions.get(String(i.executionArn));
        if (!e) throw awsError('ExecutionDoesNotExist', 400, `Execution Does Not Exist: '${String(i.executionArn)}'`);
        return { executionArn: e.arn, name: e.name, status: e.status, startDate: e.startDate, input: e.input, stateMachineArn: STATE_MACHINE_ARN };
      },
      StartExecution: (i) => {
        const name = String(i.name);
        const arn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`;
        const existing = this.executions.get(arn);
        if (existing) {
          if (existing.status === 'RUNNING' && existing.input === String(i.input)) return { executionArn: arn, startDate: existing.startDate };
          throw awsError('ExecutionAlreadyExists', 400, `Execution Already Exists: '${arn}'`);
        }
        const started = this.start(JSON.parse(String(i.input)) as Record<string, unknown>, name);
        return { executionArn: started.arn, startDate: started.startDate };
      },
      StopExecution: (i) => {
        this.executions.get(String(i.executionArn))?.abort();
        return { stopDate: this.clock.now() };
      },
      SendTaskSuccess: (i) => {
        this.tokens.succeed(String(i.taskToken), String(i.output));
        return {};
      },
      SendTaskFailure: (i) => {
        this.tokens.fail(String(i.taskToken), i.error as string | undefined, i.cause as string | undefined);
        return {};
      },
      SendTaskHeartbeat: (i) => {
        this.tokens.heartbeat(String(i.taskToken), this.clock.now());
        return {};
      },
    });
  }
}

// --- event-log helpers --------------------------------------------------------------------------------

/** The names of the states entered, in order. */
export function statesEntered(events: LoggedEvent[]): string[] {
  return events.filter((e) => e.type === 'StateEntered').map((e) => e.state!.name);
}

/** How many times a state was entered. */
export function timesEntered(events: LoggedEvent[], state: string): number {
  return statesEntered(events).filter((s) => s === state).length;
}

/** The errors states failed with, in order: `[state, error]`. */
export function stateFailures(events: LoggedEvent[]): [string, string][] {
  return events.filter((e) => e.type === 'StateFailed').map((e) => [e.state!.name, String(e.Error)]);
}

/** Retries, in order: `[state, attempt]`. */
export function stateRetries(events: LoggedEvent[]): [string, number][] {
  return events.filter((e) => e.type === 'StateRetried').map((e) => [e.state!.name, Number((e.retry as { attempt: number }).attempt)]);
}

/** The output a state exited with (the last time it ran). */
export function stateOutput(events: LoggedEvent[], state: string): Record<string, unknown> | undefined {
  const exits = events.filter((e) => e.type === 'StateExited' && e.state?.name === state);
  return exits.at(-1)?.state?.output as Record<string, unknown> | undefined;
}
