/**
 * The whole system on one machine: `startLocalStack()` starts every stand-in on 127.0.0.1, creates the
 * platform's resources, writes the `.local/aws.env` contract file, and sets the function runtime
 * environment in `process.env` for the real handlers, which run in this process. See
 * docs/local-stack.md for the picture, the ports and each stand-in's coverage and limits.
 *
 * One stack per process: the handlers read `process.env`, which is process-wide.
 */
import './polyfills';
import { mkdtempSync, rmSync, existsSync, readFileSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createRecordsTable } from './records-table';
import { apiGatewayHandler } from './api-gateway';
import { AwsError, closeServer, listen, LOOPBACK, parseRawQuery, readBody, replay, sendJsonError, sha256Hex, splitUrl } from './aws-protocol';
import { CloudFrontEdge, type Distribution, type DistributionInput } from './cloudfront';
import { DEFAULT_ENV_FILE, writeEnvFile } from './env-file';
import { LocalEventBridge, type LocalEvent } from './eventbridge';
import { iamHandler, IamStore } from './iam';
import {
  authenticate,
  CUSTOMER_ACCOUNT_ID,
  JSON_AUTH_ERRORS,
  KeyRegistry,
  newAccessKeyId,
  newSecret,
  PLATFORM_ACCOUNT_ID,
  REGION,
  type Credential,
} from './identity';
import type { PolicyDocument } from './policy';
import { jsonServiceHandler } from './json-service';
import { lambdaHandler, LambdaRegistry, type Handler } from './lambda';
import { LocalS3 } from './s3';
import { SecretsStore } from './secrets-manager';
import { stepFunctionsApi } from './sfn-api';
import { LocalStepFunctions, type Execution } from './stepfunctions';
import { Sts, stsHandler } from './sts';

export const SERVICES = ['dynamodb', 's3', 'iam', 'sts', 'secretsmanager', 'eventbridge', 'lambda', 'sfn', 'cloudfront', 'apigateway'] as const;
export type Service = (typeof SERVICES)[number];

/** Default ports (`binary-backends local`). Tests pass `ports: 'random'`. */
export const DEFAULT_PORTS: Record<Service, number> = {
  dynamodb: 4701,
  s3: 4702,
  iam: 4703,
  sts: 4704,
  secretsmanager: 4705,
  eventbridge: 4706,
  lambda: 4707,
  sfn: 4708,
  cloudfront: 4709,
  apigateway: 4710,
};

/** The `AWS_ENDPOINT_URL_<SERVICE>` suffix: the SDK's serviceId upper-cased, spaces → `_` ("Secrets Manager"). */
const ENDPOINT_VARS: Partial<Record<Service, string>> = {
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  s3: 'AWS_ENDPOINT_URL_S3',
  iam: 'AWS_ENDPOINT_URL_IAM',
  sts: 'AWS_ENDPOINT_URL_STS',
  secretsmanager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  eventbridge: 'AWS_ENDPOINT_URL_EVENTBRIDGE',
  lambda: 'AWS_ENDPOINT_URL_LAMBDA',
  sfn: 'AWS_ENDPOINT_URL_SFN',
};

export const STAGE = 'local';
export const TABLE_NAME = `binary-backends-${STAGE}`;
export const EVENT_BUS_NAME = `binary-backends-${STAGE}`;
export const DEFAULT_BUCKET = `peridio-binaries-${STAGE}`;
export const SECRET_PREFIX = `binary-backends/${STAGE}/`;
export const FUNCTION_ROLE_NAME = `binary-backends-${STAGE}-functions`;
export const SIGNER_ROLE_NAME = `binary-backends-${STAGE}-default-storage-signer`;
export const BOUNDARY_POLICY_ARN = `arn:aws:iam::${PLATFORM_ACCOUNT_ID}:policy/binary-backends-${STAGE}-platform-role-boundary`;
export const STATE_MACHINE_NAME = `binary-backends-${STAGE}-onboarding`;

/** Fixed local credentials (not secrets: they only open this local stack). */
const PLATFORM_KEY = { id: 'AKIALOCALPLATFORM001', secret: 'local-platform-secret-key-not-a-secret-0001' };
const CUSTOMER_KEY = { id: 'AKIALOCALCUSTOMER001', secret: 'local-customer-secret-key-not-a-secret-0001' };
/** A second person in the platform account, who may approve what local-support requested. */
const APPROVER_KEY = { id: 'AKIALOCALAPPROVER001', secret: 'local-approver-secret-key-not-a-secret-0001' };

export interface LocalStackOptions {
  /** `'random'` = free ports (tests); otherwise overrides of DEFAULT_PORTS. */
  ports?: 'random' | Partial<Record<Service, number>>;
  /** Where to write the env file; default `.local/aws.env` (relative to the cwd); `false` = do not write one. */
  envFile?: string | false;
  /** Every Wait state (WaitForTrust) pauses this long, in ms. Default 2000. */
  waitForTrustMs?: number;
  /** Per-Wait-state overrides in ms, by state name. */
  waitTimeOverridesMs?: Record<string, number>;
  /** Every Retry waits this long between attempts, in ms. Default 200. */
  retryIntervalMs?: number;
  /**
   * Models IAM's eventual consistency: a role created through the API is refused as a trust-policy
   * principal ("Invalid principal in policy") and cannot be assumed (AccessDenied) for this long. Default 0.
   */
  iamPropagationMs?: number;
  /**
   * Opt-in: S3 requests by a role session whose role has inline policies must be allowed by them
   * (`s3:GetObject`, `s3:PutObject`, `s3:ListBucket`, …; see `s3Actions` in local/s3.ts). Default false:
   * any validly signed request is served.
   */
  evaluateS3Permissions?: boolean;
  /** ROLE_PROPAGATION_DELAY_SECONDS for CreatePlatformRole. Default 1. */
  rolePropagationDelaySeconds?: number;
  /** APPROVAL_POLICY of the local stage. Default `never` (the demo's); e2e tests of approval set another. */
  approvalPolicy?: 'always' | 'when-active' | 'never';
  /** Approval waits (task tokens) time out after this many ms instead of APPROVAL_TIMEOUT_SECONDS. */
  approvalTimeoutMs?: number;
  /** Extra or overriding variables for the function runtime environment. */
  functionEnv?: Record<string, string>;
  /** Set the function runtime environment in process.env (default true; the handlers need it). */
  setProcessEnv?: boolean;
  /** The repository root (handlers, statemachine/). Default: the parent of local/. */
  root?: string;
  /** The ASL file; default `<root>/statemachine/onboarding.asl.json`. */
  aslPath?: string;
  quiet?: boolean;
  /**
   * The clock the stand-ins judge expiry by (session credentials, presigned and CloudFront URLs).
   * Tests move it forward instead of sleeping. SigV4 header signatures are still checked against it
   * with AWS's 15-minute skew, so move it only for presigned/CloudFront URLs and expiry checks.
   */
  clock?: () => Date;
}

export interface LocalStack {
  /** What the env file holds (the contract): support persona's credentials, endpoints, names. */
  env: Record<string, string>;
  /** What the in-process handlers see in process.env. */
  functionEnv: Record<string, string>;
  envFile?: string;
  ports: Record<Service, number>;
  endpoints: Record<Service, string>;
  accounts: { platform: string; customer: string };
  credentials: {
    platform: { accessKeyId: string; secretAccessKey: string };
    customer: { accessKeyId: string; secretAccessKey: string };
    /** `local-approver`, a second platform user (binary-backends approve|reject). */
    approver: { accessKeyId: string; secretAccessKey: string };
    functions: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  };
  names: {
    table: string;
    eventBus: string;
    defaultBucket: string;
    stateMachineArn: string;
    functionRoleArn: string;
    signerRoleArn: string;
    boundaryPolicyArn: string;
    secretPrefix: string;
    function(key: Parameters<LambdaRegistry['functionName']>[0]): string;
  };
  /** Every event put on any bus, in order (EventBridge's log). */
  events: LocalEvent[];
  eventBridge: LocalEventBridge;
  stepFunctions: LocalStepFunctions;
  lambda: LambdaRegistry;
  iam: IamStore;
  s3: LocalS3;
  cloudFront: CloudFrontEdge;
  /** Registers a CloudFront distribution on the local edge (key pair id → public key, bucket, origin path). */
  registerDistribution(input: DistributionInput): Distribution;
  /** Creates a bucket directly, owned by `ownerAccountId` (default: the customer account). */
  createBucket(name: string, region: string, ownerAccountId?: string): Promise<void>;
  /** Registers or replaces a function by name (tests, the demo). */
  registerFunction(name: string, handler: Handler): void;
  /** A new IAM user with static keys (tests: a principal the bus policy does not name). */
  createUser(accountId: string, userName: string): { arn: string; accessKeyId: string; secretAccessKey: string };
  /** Resolves when the execution is no longer RUNNING. */
  waitForExecution(executionArn: string): Promise<Execution>;
  stop(): Promise<void>;
}

function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const root = opts.root ?? repoRoot();
  // The stack's own SDK client (CreateTable) would print Node 20's support notice before the handlers' env is set.
  if (opts.setProcessEnv !== false) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const ports: Record<Service, number> = { ...DEFAULT_PORTS };
  if (opts.ports === 'random') for (const s of SERVICES) ports[s] = 0;
  else if (opts.ports) Object.assign(ports, opts.ports);

  const clock = opts.clock ?? (() => new Date());
  const keys = new KeyRegistry(clock);
  const platformUser = keys.addUser(PLATFORM_ACCOUNT_ID, 'local-support', PLATFORM_KEY.id, PLATFORM_KEY.secret);
  const customerUser = keys.addUser(CUSTOMER_ACCOUNT_ID, 'local-customer-admin', CUSTOMER_KEY.id, CUSTOMER_KEY.secret);
  const approverUser = keys.addUser(PLATFORM_ACCOUNT_ID, 'local-approver', APPROVER_KEY.id, APPROVER_KEY.secret);

  const iam = new IamStore([PLATFORM_ACCOUNT_ID, CUSTOMER_ACCOUNT_ID], { clock, propagationMs: opts.iamPropagationMs ?? 0 });
  iam.addUserArn(platformUser.principal.arn);
  iam.addUserArn(customerUser.principal.arn);
  iam.addUserArn(approverUser.principal.arn);
  iam.addManagedPolicy(BOUNDARY_POLICY_ARN);
  const functionRole = iam.createRole(PLATFORM_ACCOUNT_ID, {
    roleName: FUNCTION_ROLE_NAME,
    trust: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    }),
    description: 'Local stand-in for the Lambda execution role all functions share',
    tags: [{ Key: 'service', Value: 'binary-backends' }],
  });
  const signerRole = iam.createRole(PLATFORM_ACCOUNT_ID, {
    roleName: SIGNER_ROLE_NAME,
    trust: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: functionRole.arn }, Action: 'sts:AssumeRole' }],
    }),
    description: 'Signs default-storage URLs with credentials whose expiry is known',
    tags: [{ Key: 'service', Value: 'binary-backends' }],
  });
  iam.putRolePolicy(
    PLATFORM_ACCOUNT_ID,
    FUNCTION_ROLE_NAME,
    'assume-platform-and-signer-roles',
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'sts:AssumeRole',
          Resource: [`arn:aws:iam::${PLATFORM_ACCOUNT_ID}:role/binary_backend_*`, signerRole.arn],
        },
      ],
    }),
  );
  iam.putRolePolicy(
    PLATFORM_ACCOUNT_ID,
    SIGNER_ROLE_NAME,
    'default-storage',
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], Resource: `arn:aws:s3:::${DEFAULT_BUCKET}/*` }],
    }),
  );
  const sts = new Sts(iam, keys);
  const functionSession = sts.issueSession(functionRole, `binary-backends-${STAGE}`, 30 * 86_400);

  const cleanups: (() => Promise<void> | void)[] = [];
  const servers: Server[] = [];
  try {
    // DynamoDB: dynalite in memory, in-process, behind the same SigV4 check as the other stand-ins
    // (dynalite itself accepts any signature).
    const { default: dynalite } = (await import('dynalite')) as { default: (o: object) => Server };
    const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    const dynaliteHandler = dynamo.listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;
    const dynamoFront = await listen(ports.dynamodb, async (req, res) => {
      try {
        const body = await readBody(req);
        const { path: rawPath, rawQuery } = splitUrl(req.url ?? '/');
        authenticate(keys, req, { rawPath, query: parseRawQuery(rawQuery), bodySha256: sha256Hex(body), s3: false }, JSON_AUTH_ERRORS);
        dynaliteHandler(replay(req, body), res);
      } catch (err) {
        const e = err instanceof AwsError ? err : new AwsError('InternalFailure', (err as Error).message, 500);
        sendJsonError(res, e, 'application/x-amz-json-1.0');
      }
    }).catch((err: NodeJS.ErrnoException) => {
      throw portError('dynamodb', ports.dynamodb, err);
    });
    servers.push(dynamoFront.server);
    ports.dynamodb = dynamoFront.port;

    // S3
    const s3Dir = mkdtempSync(path.join(tmpdir(), 'binary-backends-s3-'));
    cleanups.push(() => rmSync(s3Dir, { recursive: true, force: true }));
    const s3 = new LocalS3(
      keys,
      s3Dir,
      opts.evaluateS3Permissions ? (credential, action, resource) => iam.identityAllows(credential.principal, action, resource) : undefined,
    );
    cleanups.push(() => s3.close());
    await s3.createBucket(DEFAULT_BUCKET, REGION, PLATFORM_ACCOUNT_ID);

    // Lambda, EventBridge, Step Functions
    const lambda = new LambdaRegistry(STAGE, PLATFORM_ACCOUNT_ID, root);
    const eventBridge = new LocalEventBridge(PLATFORM_ACCOUNT_ID, (name, event) => lambda.invoke(name, event));
    // The same bus policy the template gives the stage's bus: the support persona may request onboardings, the
    // functions' role may put the service's events, everyone else is denied.
    const { busPolicy } = createRequire(import.meta.url)('../deploy/iam/event-bus.cjs') as {
      busPolicy: (o: { busArn: string; account: unknown; requesters: string[]; emitters: string[] }) => PolicyDocument;
    };
    eventBridge.createBus(
      EVENT_BUS_NAME,
      PLATFORM_ACCOUNT_ID,
      busPolicy({
        busArn: `arn:aws:events:${REGION}:${PLATFORM_ACCOUNT_ID}:event-bus/${EVENT_BUS_NAME}`,
        account: { AWS: `arn:aws:iam::${PLATFORM_ACCOUNT_ID}:root` },
        requesters: [platformUser.principal.principalArn],
        emitters: [functionRole.arn],
      }),
    );
    const stepFunctions = new LocalStepFunctions({
      accountId: PLATFORM_ACCOUNT_ID,
      stage: STAGE,
      aslPath: opts.aslPath ?? path.join(root, 'statemachine/onboarding.asl.json'),
      stateMachineName: STATE_MACHINE_NAME,
      roleArn: `arn:aws:iam::${PLATFORM_ACCOUNT_ID}:role/binary-backends-${STAGE}-state-machine`,
      registry: lambda,
      events: eventBridge,
      waitMs: opts.waitForTrustMs ?? 2000,
      waitTimeOverridesMs: opts.waitTimeOverridesMs,
      retryIntervalMs: opts.retryIntervalMs ?? 200,
      taskTokenTimeoutMs: opts.approvalTimeoutMs,
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
    cleanups.push(() => stepFunctions.abortAll());

    const secrets = new SecretsStore();
    const cloudFront = new CloudFrontEdge(s3, clock);

    const start = async (service: Service, handler: Parameters<typeof listen>[1]) => {
      const { server, port } = await listen(ports[service], handler).catch((err: NodeJS.ErrnoException) => {
        throw portError(service, ports[service], err);
      });
      servers.push(server);
      ports[service] = port;
    };
    await start('s3', s3.handler());
    await start('iam', iamHandler(iam, keys));
    await start('sts', stsHandler(sts, keys));
    await start(
      'secretsmanager',
      jsonServiceHandler(keys, { targetPrefix: 'secretsmanager', contentType: 'application/x-amz-json-1.1', operations: secrets.operations() }),
    );
    await start(
      'eventbridge',
      jsonServiceHandler(keys, {
        targetPrefix: 'AWSEvents',
        contentType: 'application/x-amz-json-1.1',
        operations: eventBridge.operations(),
        extraRoutes: { '/_local/events': eventBridge.logRoute() },
      }),
    );
    await start('lambda', lambdaHandler(lambda, keys));
    await start(
      'sfn',
      jsonServiceHandler(keys, { targetPrefix: 'AWSStepFunctions', contentType: 'application/x-amz-json-1.0', operations: stepFunctionsApi(stepFunctions) }),
    );
    await start('cloudfront', cloudFront.handler());
    await start('apigateway', apiGatewayHandler(lambda, keys, PLATFORM_ACCOUNT_ID));

    const endpoints = Object.fromEntries(SERVICES.map((s) => [s, `http://${LOOPBACK}:${ports[s]}`])) as Record<Service, string>;
    const endpointEnv = Object.fromEntries(
      Object.entries(ENDPOINT_VARS).map(([s, v]) => [v, endpoints[s as Service]]),
    ) as Record<string, string>;

    // The table (pk/sk strings), created through the local DynamoDB like any client would.
    const ddb = new DynamoDBClient({
      region: REGION,
      endpoint: endpoints.dynamodb,
      credentials: { accessKeyId: PLATFORM_KEY.id, secretAccessKey: PLATFORM_KEY.secret },
    });
    await createRecordsTable(ddb, TABLE_NAME);
    ddb.destroy();

    const edge = `${LOOPBACK}:${ports.cloudfront}`;
    cloudFront.host = edge;
    const env: Record<string, string> = {
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_ACCESS_KEY_ID: PLATFORM_KEY.id,
      AWS_SECRET_ACCESS_KEY: PLATFORM_KEY.secret,
      ...endpointEnv,
      PLATFORM_ACCOUNT_ID,
      CUSTOMER_ACCOUNT_ID,
      CUSTOMER_AWS_ACCESS_KEY_ID: CUSTOMER_KEY.id,
      CUSTOMER_AWS_SECRET_ACCESS_KEY: CUSTOMER_KEY.secret,
      // To play the second person who approves (binary-backends approve|reject): local-approver.
      APPROVER_AWS_ACCESS_KEY_ID: APPROVER_KEY.id,
      APPROVER_AWS_SECRET_ACCESS_KEY: APPROVER_KEY.secret,
      BINARY_BACKENDS_STAGE: STAGE,
      BINARY_BACKENDS_STATE_MACHINE_ARN: stepFunctions.stateMachineArn,
      BINARY_BACKENDS_TABLE: TABLE_NAME,
      BINARY_BACKENDS_SIGNER_FUNCTION: lambda.functionName('signUrl'),
      BINARY_BACKENDS_STARTER_FUNCTION: lambda.functionName('starter'),
      BINARY_BACKENDS_DEACTIVATE_FUNCTION: lambda.functionName('deactivate'),
      // The IAM-authorized front door the CLI's onboard and deactivate call (SigV4, service execute-api).
      BINARY_BACKENDS_API_URL: endpoints.apigateway,
      BINARY_BACKENDS_DEFAULT_BUCKET: DEFAULT_BUCKET,
      BINARY_BACKENDS_CLOUDFRONT_EDGE: edge,
      BINARY_BACKENDS_SECRET_PREFIX: SECRET_PREFIX,
      // The local CloudFront edge is a loopback host:port; only this stack accepts one (input rules).
      BINARY_BACKENDS_ALLOW_LOOPBACK_HOSTS: 'true',
      BINARY_BACKENDS_EVENT_BUS: EVENT_BUS_NAME,
      // How long WaitForTrust really pauses here (CheckTrust records nextCheckAt on the production schedule),
      // so a CLI in another shell counts down to the real next check.
      BINARY_BACKENDS_LOCAL_WAIT_FOR_TRUST_MS: String(opts.waitTimeOverridesMs?.WaitForTrust ?? opts.waitForTrustMs ?? 2000),
      // Quiets SDK v3's "Node 20 support ends" notice in every CLI or script that loads this file.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };

    const functionEnv: Record<string, string> = {
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_ACCESS_KEY_ID: functionSession.accessKeyId,
      AWS_SECRET_ACCESS_KEY: functionSession.secretAccessKey,
      AWS_SESSION_TOKEN: functionSession.sessionToken!,
      ...endpointEnv,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      SERVICE_STAGE: STAGE,
      TABLE_NAME,
      EVENT_BUS_NAME,
      STATE_MACHINE_ARN: stepFunctions.stateMachineArn,
      PLATFORM_ACCOUNT_ID,
      PLATFORM_ROLE_TRUSTED_PRINCIPAL_PATTERN: `arn:aws:iam::${PLATFORM_ACCOUNT_ID}:role/binary-backends-${STAGE}-*`,
      PLATFORM_ROLE_PERMISSIONS_BOUNDARY_ARN: BOUNDARY_POLICY_ARN,
      ROLE_PROPAGATION_DELAY_SECONDS: String(opts.rolePropagationDelaySeconds ?? 1),
      APPROVAL_POLICY: opts.approvalPolicy ?? 'never',
      DEFAULT_BUCKET,
      DEFAULT_BUCKET_REGION: REGION,
      DEFAULT_SIGNER_ROLE_ARN: signerRole.arn,
      KEY_SECRET_PREFIX: SECRET_PREFIX,
      ALLOW_LOOPBACK_CLOUDFRONT_HOSTS: 'true',
      // The handlers run in this process, so their stdout is the terminal of whoever runs the stack (or the
      // demo), not CloudWatch: no embedded-metric lines there. Pass functionEnv to turn them back on.
      POWERTOOLS_METRICS_DISABLED: 'true',
      ...opts.functionEnv,
    };

    const previousEnv = new Map<string, string | undefined>();
    if (opts.setProcessEnv !== false) {
      for (const [k, v] of Object.entries(functionEnv)) {
        previousEnv.set(k, process.env[k]);
        process.env[k] = v;
      }
    }
    cleanups.push(() => {
      for (const [k, v] of previousEnv) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });

    let envFile: string | undefined;
    if (opts.envFile !== false) {
      envFile = opts.envFile ?? DEFAULT_ENV_FILE;
      writeEnvFile(envFile, env, [
        'Written by the binary-backends local stack (local/stack.ts) at start-up; removed when it stops.',
        'Load with `set -a; . .local/aws.env; set +a` or dotenv. Local-only credentials: they open nothing else.',
      ]);
      const written = readFileSync(envFile, 'utf8');
      const file = envFile;
      cleanups.push(() => {
        // Remove it only if it is still ours (another stack may have rewritten it since).
        if (existsSync(file) && readFileSync(file, 'utf8') === written) unlinkSync(file);
      });
    }

    let stopped = false;
    const stack: LocalStack = {
      env,
      functionEnv,
      envFile,
      ports,
      endpoints,
      accounts: { platform: PLATFORM_ACCOUNT_ID, customer: CUSTOMER_ACCOUNT_ID },
      credentials: {
        platform: { accessKeyId: PLATFORM_KEY.id, secretAccessKey: PLATFORM_KEY.secret },
        customer: { accessKeyId: CUSTOMER_KEY.id, secretAccessKey: CUSTOMER_KEY.secret },
        approver: { accessKeyId: APPROVER_KEY.id, secretAccessKey: APPROVER_KEY.secret },
        functions: credentialsOf(functionSession),
      },
      names: {
        table: TABLE_NAME,
        eventBus: EVENT_BUS_NAME,
        defaultBucket: DEFAULT_BUCKET,
        stateMachineArn: stepFunctions.stateMachineArn,
        functionRoleArn: functionRole.arn,
        signerRoleArn: signerRole.arn,
        boundaryPolicyArn: BOUNDARY_POLICY_ARN,
        secretPrefix: SECRET_PREFIX,
        function: (key) => lambda.functionName(key),
      },
      events: eventBridge.events,
      eventBridge,
      stepFunctions,
      lambda,
      iam,
      s3,
      cloudFront,
      registerDistribution: (input) => cloudFront.registerDistribution(input),
      createBucket: async (name, region, owner = CUSTOMER_ACCOUNT_ID) => {
        await s3.createBucket(name, region, owner);
      },
      registerFunction: (name, handler) => lambda.register(name, handler),
      createUser: (accountId, userName) => {
        const c = keys.addUser(accountId, userName, newAccessKeyId(false), newSecret());
        iam.addUserArn(c.principal.arn);
        return { arn: c.principal.arn, accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
      },
      waitForExecution: (arn) => stepFunctions.waitFor(arn),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await runCleanups(servers, cleanups);
      },
    };
    if (!opts.quiet) {
      // eslint-disable-next-line no-console
      console.error(`local stack up: ${SERVICES.map((s) => `${s}=${ports[s]}`).join(' ')}${envFile ? `; env file ${envFile}` : ''}`);
    }
    return stack;
  } catch (err) {
    await runCleanups(servers, cleanups);
    throw err;
  }
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

function credentialsOf(c: Credential): { accessKeyId: string; secretAccessKey: string; sessionToken: string } {
  return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken ?? '' };
}

async function runCleanups(servers: Server[], cleanups: (() => Promise<void> | void)[]): Promise<void> {
  await Promise.all(servers.map((s) => closeServer(s)));
  for (const c of cleanups.slice().reverse()) {
    try {
      await c();
    } catch {
      // keep stopping the rest
    }
  }
}
