/**
 * The stand-ins of the local stack, each started on 127.0.0.1 and stopped through the `cleanups` and
 * `servers` it registers: DynamoDB (dynalite behind a SigV4 check), S3, Lambda, EventBridge (with the
 * stage's bus, its policy and the two rules), Step Functions, IAM, STS, Secrets Manager, CloudFront and the
 * API Gateway front door. One reason to change: how a stand-in is built, wired to the others and served.
 * The order they start in and what the stack hands back is local/stack.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { apiGatewayHandler } from '../api-gateway';
import { AwsError, closeServer, listen, LOOPBACK, parseRawQuery, readBody, replay, sendJsonError, sha256Hex, splitUrl } from '../aws-protocol';
import { CloudFrontEdge } from '../cloudfront';
import { LocalEventBridge } from '../eventbridge';
import { iamHandler } from '../iam';
import { authenticate, JSON_AUTH_ERRORS, PLATFORM_ACCOUNT_ID, REGION } from '../identity';
import { jsonServiceHandler } from '../json-service';
import { lambdaHandler, LambdaRegistry } from '../lambda';
import type { PolicyDocument } from '../policy';
import { createRecordsTable } from '../records-table';
import { LocalS3 } from '../s3';
import { SecretsStore } from '../secrets-manager';
import { stepFunctionsApi } from '../sfn-api';
import { LocalStepFunctions } from '../stepfunctions';
import { stsHandler } from '../sts';
import type { Identities } from './iam-seed';
import { DEFAULT_BUCKET, EVENT_BUS_NAME, PLATFORM_KEY, SERVICES, STAGE, STATE_MACHINE_NAME, TABLE_NAME, type Service } from './names';

export type Cleanup = () => Promise<void> | void;

/** What started so far, to stop in reverse: the servers, then each cleanup last-first. */
export interface Running {
  ports: Record<Service, number>;
  servers: Server[];
  cleanups: Cleanup[];
}

export interface WorkflowOptions {
  root: string;
  aslPath?: string;
  waitForTrustMs?: number;
  waitTimeOverridesMs?: Record<string, number>;
  retryIntervalMs?: number;
  approvalTimeoutMs?: number;
}

/** Listens on the service's port (0 = any free one) and records the port it got. */
async function serve(run: Running, service: Service, handler: Parameters<typeof listen>[1]): Promise<void> {
  const { server, port } = await listen(run.ports[service], handler).catch((err: NodeJS.ErrnoException) => {
    throw portError(service, run.ports[service], err);
  });
  run.servers.push(server);
  run.ports[service] = port;
}

/**
 * DynamoDB: dynalite in memory, in-process, behind the same SigV4 check as the other stand-ins (dynalite
 * itself accepts any signature).
 */
export async function startDynamoDb(run: Running, ids: Identities): Promise<void> {
  const { default: dynalite } = (await import('dynalite')) as { default: (o: object) => Server };
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const dynaliteHandler = dynamo.listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;
  await serve(run, 'dynamodb', async (req, res) => {
    try {
      const body = await readBody(req);
      const { path: rawPath, rawQuery } = splitUrl(req.url ?? '/');
      authenticate(ids.keys, req, { rawPath, query: parseRawQuery(rawQuery), bodySha256: sha256Hex(body), s3: false }, JSON_AUTH_ERRORS);
      dynaliteHandler(replay(req, body), res);
    } catch (err) {
      const e = err instanceof AwsError ? err : new AwsError('InternalFailure', (err as Error).message, 500);
      sendJsonError(res, e, 'application/x-amz-json-1.0');
    }
  });
}

/** S3 over a temporary directory, with the default-storage bucket. */
export async function createS3(run: Running, ids: Identities, evaluateS3Permissions: boolean | undefined): Promise<LocalS3> {
  const s3Dir = mkdtempSync(path.join(tmpdir(), 'binary-backends-s3-'));
  run.cleanups.push(() => rmSync(s3Dir, { recursive: true, force: true }));
  const s3 = new LocalS3(
    ids.keys,
    s3Dir,
    evaluateS3Permissions ? (credential, action, resource) => ids.iam.identityAllows(credential.principal, action, resource) : undefined,
  );
  run.cleanups.push(() => s3.close());
  await s3.createBucket(DEFAULT_BUCKET, REGION, PLATFORM_ACCOUNT_ID);
  return s3;
}

/** Lambda (the real handlers), EventBridge (the stage's bus and rules) and Step Functions. */
export function createWorkflow(run: Running, ids: Identities, o: WorkflowOptions) {
  const lambda = new LambdaRegistry(STAGE, PLATFORM_ACCOUNT_ID, o.root);
  const eventBridge = new LocalEventBridge(PLATFORM_ACCOUNT_ID, (name, event) => lambda.invoke(name, event));
  // The same bus policy the template gives the stage's bus: the support persona may request onboardings, the
  // functions' role may put the service's events, everyone else is denied.
  const { busPolicy } = createRequire(import.meta.url)('../../deploy/iam/event-bus.cjs') as {
    busPolicy: (o: { busArn: string; account: unknown; requesters: string[]; emitters: string[] }) => PolicyDocument;
  };
  eventBridge.createBus(
    EVENT_BUS_NAME,
    PLATFORM_ACCOUNT_ID,
    busPolicy({
      busArn: `arn:aws:events:${REGION}:${PLATFORM_ACCOUNT_ID}:event-bus/${EVENT_BUS_NAME}`,
      account: { AWS: `arn:aws:iam::${PLATFORM_ACCOUNT_ID}:root` },
      requesters: [ids.platformUser.principal.principalArn],
      emitters: [ids.functionRole.arn],
    }),
  );
  const stepFunctions = new LocalStepFunctions({
    accountId: PLATFORM_ACCOUNT_ID,
    stage: STAGE,
    aslPath: o.aslPath ?? path.join(o.root, 'statemachine/onboarding.asl.json'),
    stateMachineName: STATE_MACHINE_NAME,
    roleArn: `arn:aws:iam::${PLATFORM_ACCOUNT_ID}:role/binary-backends-${STAGE}-state-machine`,
    registry: lambda,
    events: eventBridge,
    waitMs: o.waitForTrustMs ?? 2000,
    waitTimeOverridesMs: o.waitTimeOverridesMs,
    retryIntervalMs: o.retryIntervalMs ?? 200,
    taskTokenTimeoutMs: o.approvalTimeoutMs,
  });
  eventBridge.addRule({
    name: `binary-backends-${STAGE}-onboarding-requested`,
    bus: EVENT_BUS_NAME,
    // Like the deployed rule: only events put from this account.
    matches: (e) => e.account === PLATFORM_ACCOUNT_ID && e.source === 'peridio.binary-backends' && e.detailType === 'Onboarding Requested',
    target: lambda.functionName('starter'),
  });
  eventBridge.addRule({
    name: `binary-backends-${STAGE}-execution-status-change`,
    bus: 'default',
    matches: (e) => {
      const d = e.detail as { status?: string; stateMachineArn?: string };
      return (
        e.source === 'aws.states' &&
        e.detailType === 'Step Functions Execution Status Change' &&
        d.stateMachineArn === stepFunctions.stateMachineArn &&
        (d.status === 'ABORTED' || d.status === 'TIMED_OUT' || d.status === 'FAILED')
      );
    },
    target: lambda.functionName('executionStatusChange'),
  });
  run.cleanups.push(() => stepFunctions.abortAll());
  return { lambda, eventBridge, stepFunctions };
}

/** Serves S3, IAM, STS, Secrets Manager, EventBridge, Lambda, Step Functions, CloudFront and API Gateway, in that order. */
export async function serveAll(
  run: Running,
  ids: Identities,
  s: { s3: LocalS3; lambda: LambdaRegistry; eventBridge: LocalEventBridge; stepFunctions: LocalStepFunctions; cloudFront: CloudFrontEdge },
): Promise<void> {
  const secrets = new SecretsStore();
  await serve(run, 's3', s.s3.handler());
  await serve(run, 'iam', iamHandler(ids.iam, ids.keys));
  await serve(run, 'sts', stsHandler(ids.sts, ids.keys));
  await serve(
    run,
    'secretsmanager',
    jsonServiceHandler(ids.keys, { targetPrefix: 'secretsmanager', contentType: 'application/x-amz-json-1.1', operations: secrets.operations() }),
  );
  await serve(
    run,
    'eventbridge',
    jsonServiceHandler(ids.keys, {
      targetPrefix: 'AWSEvents',
      contentType: 'application/x-amz-json-1.1',
      operations: s.eventBridge.operations(),
      extraRoutes: { '/_local/events': s.eventBridge.logRoute() },
    }),
  );
  await serve(run, 'lambda', lambdaHandler(s.lambda, ids.keys));
  await serve(
    run,
    'sfn',
    jsonServiceHandler(ids.keys, { targetPrefix: 'AWSStepFunctions', contentType: 'application/x-amz-json-1.0', operations: stepFunctionsApi(s.stepFunctions) }),
  );
  await serve(run, 'cloudfront', s.cloudFront.handler());
  await serve(run, 'apigateway', apiGatewayHandler(s.lambda, ids.keys, PLATFORM_ACCOUNT_ID));
}

/** Every service's `http://127.0.0.1:<port>`, once all are listening. */
export function endpointsOf(ports: Record<Service, number>): Record<Service, string> {
  return Object.fromEntries(SERVICES.map((s) => [s, `http://${LOOPBACK}:${ports[s]}`])) as Record<Service, string>;
}

/** The table (pk/sk strings), created through the local DynamoDB like any client would. */
export async function createTable(dynamodbEndpoint: string): Promise<void> {
  const ddb = new DynamoDBClient({
    region: REGION,
    endpoint: dynamodbEndpoint,
    credentials: { accessKeyId: PLATFORM_KEY.id, secretAccessKey: PLATFORM_KEY.secret },
  });
  await createRecordsTable(ddb, TABLE_NAME);
  ddb.destroy();
}

function portError(service: Service, port: number, err: NodeJS.ErrnoException): Error {
  if (err.code === 'EADDRINUSE') {
    return new Error(
      `The local ${service} port ${port} on ${LOOPBACK} is in use (another local stack?). Stop it, or choose other ports: ` +
        `startLocalStack({ ports: { ${service}: <port> } }) or ports: 'random'.`,
    );
  }
  return err;
}

/** Stops what started: closes every server, then runs the cleanups last-first, each even if one before failed. */
export async function stopAll(run: Running): Promise<void> {
  await Promise.all(run.servers.map((s) => closeServer(s)));
  for (const c of run.cleanups.slice().reverse()) {
    try {
      await c();
    } catch {
      // keep stopping the rest
    }
  }
}
