/**
 * The whole system on one machine: `startLocalStack()` starts every stand-in on 127.0.0.1, creates the
 * platform's resources, writes the `.local/aws.env` contract file, and sets the function runtime
 * environment in `process.env` for the real handlers, which run in this process. See
 * docs/local-stack.md for the picture, the ports and each stand-in's coverage and limits.
 *
 * One stack per process: the handlers read `process.env`, which is process-wide.
 *
 * This file is the orchestration (what starts in which order, what `stop` undoes, what the caller gets);
 * the parts are local/stack/: names.ts (names, ports, local keys), iam-seed.ts (users, roles, policies),
 * services.ts (each stand-in), runtime-env.ts (the env file and the functions' environment).
 */
import './polyfills';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudFrontEdge, type Distribution, type DistributionInput } from './cloudfront';
import type { LocalEvent, LocalEventBridge } from './eventbridge';
import type { IamStore } from './iam';
import { CUSTOMER_ACCOUNT_ID, newAccessKeyId, newSecret, PLATFORM_ACCOUNT_ID, type Credential } from './identity';
import type { Handler, LambdaRegistry } from './lambda';
import type { LocalS3 } from './s3';
import type { Execution, LocalStepFunctions } from './stepfunctions';
import { LOOPBACK } from './aws-protocol';
import { seedIdentities } from './stack/iam-seed';
import {
  APPROVER_KEY,
  BOUNDARY_POLICY_ARN,
  CUSTOMER_KEY,
  DEFAULT_BUCKET,
  DEFAULT_PORTS,
  EVENT_BUS_NAME,
  PLATFORM_KEY,
  SECRET_PREFIX,
  SERVICES,
  TABLE_NAME,
  type Service,
} from './stack/names';
import { applyProcessEnv, contractEnv, functionRuntimeEnv, writeContractFile } from './stack/runtime-env';
import { createS3, createTable, createWorkflow, endpointsOf, serveAll, startDynamoDb, stopAll, type Running } from './stack/services';

export {
  BOUNDARY_POLICY_ARN,
  DEFAULT_BUCKET,
  DEFAULT_PORTS,
  EVENT_BUS_NAME,
  FUNCTION_ROLE_NAME,
  SECRET_PREFIX,
  SERVICES,
  SIGNER_ROLE_NAME,
  STAGE,
  STATE_MACHINE_NAME,
  TABLE_NAME,
  type Service,
} from './stack/names';

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
  const ids = seedIdentities({ clock, propagationMs: opts.iamPropagationMs ?? 0 });
  const { keys, iam, functionRole, signerRole, functionSession } = ids;

  const run: Running = { ports, servers: [], cleanups: [] };
  try {
    // 1. DynamoDB, S3, then Lambda, EventBridge and Step Functions (each needs the one before).
    await startDynamoDb(run, ids);
    const s3 = await createS3(run, ids, opts.evaluateS3Permissions);
    const { lambda, eventBridge, stepFunctions } = createWorkflow(run, ids, {
      root,
      aslPath: opts.aslPath,
      waitForTrustMs: opts.waitForTrustMs,
      waitTimeOverridesMs: opts.waitTimeOverridesMs,
      retryIntervalMs: opts.retryIntervalMs,
      approvalTimeoutMs: opts.approvalTimeoutMs,
    });
    const cloudFront = new CloudFrontEdge(s3, clock);
    // 2. Every other service listens; then the endpoints are known.
    await serveAll(run, ids, { s3, lambda, eventBridge, stepFunctions, cloudFront });
    const endpoints = endpointsOf(ports);
    // 3. The table, through the local DynamoDB.
    await createTable(endpoints.dynamodb);

    const edge = `${LOOPBACK}:${ports.cloudfront}`;
    cloudFront.host = edge;
    // 4. The runtime environment: the contract (env file) and the functions' process.env.
    const env = contractEnv({
      endpoints,
      edge,
      stateMachineArn: stepFunctions.stateMachineArn,
      functionName: (key) => lambda.functionName(key),
      waitForTrustMs: opts.waitTimeOverridesMs?.WaitForTrust ?? opts.waitForTrustMs ?? 2000,
    });
    const functionEnv = functionRuntimeEnv({
      session: functionSession,
      endpoints,
      stateMachineArn: stepFunctions.stateMachineArn,
      signerRoleArn: signerRole.arn,
      rolePropagationDelaySeconds: opts.rolePropagationDelaySeconds ?? 1,
      approvalPolicy: opts.approvalPolicy ?? 'never',
      extra: opts.functionEnv,
    });
    if (opts.setProcessEnv !== false) run.cleanups.push(applyProcessEnv(functionEnv));

    let envFile: string | undefined;
    if (opts.envFile !== false) {
      const written = writeContractFile(opts.envFile, env);
      envFile = written.file;
      run.cleanups.push(written.cleanup);
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
        await stopAll(run);
      },
    };
    if (!opts.quiet) {
      // eslint-disable-next-line no-console
      console.error(`local stack up: ${SERVICES.map((s) => `${s}=${ports[s]}`).join(' ')}${envFile ? `; env file ${envFile}` : ''}`);
    }
    return stack;
  } catch (err) {
    await stopAll(run);
    throw err;
  }
}

function credentialsOf(c: Credential): { accessKeyId: string; secretAccessKey: string; sessionToken: string } {
  return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken ?? '' };
}
