'use strict';
/**
 * The function catalog: the ONE list of the service's Lambda functions. Everything else reads it:
 * - serverless.yml `functions: ${file(functions/catalog.cjs):serverlessFunctions}` (generated below);
 * - the IAM roles (deploy/iam/function-roles.cjs: role name and logical ID per key; it refuses a catalog
 *   function without grants, and grants for a function not in the catalog);
 * - the local stack (local/lambda.ts loads `<handler module>.ts` and names it `binary-backends-local-<suffix>`);
 * - the template tests (test/deploy/cfn.ts), the ASL contract (test/unit/asl-contract.test.ts) and the
 *   state-machine harness (test/statemachine/harness.ts), which map each Task to its function through `task`.
 * test/unit/function-catalog.test.ts fails when the ASL's Lambda tasks, this catalog, serverless.yml and the
 * local stack disagree. TypeScript imports it typed through functions/catalog.d.cts.
 *
 * HOW TO ADD A FUNCTION (one place, plus what only you can decide):
 *   1. Add an entry to FUNCTIONS below: key (the serverless key, camelCase), handler
 *      (`functions/<dir>/handler.handler`: the module exports `handler`), suffix (the deployed name is
 *      `binary-backends-<stage>-<suffix>`, and so is its role's), timeout, and whatever else it needs:
 *      environment, memorySize, description, walksChain, task, and `deploy` for events and async settings.
 *      For an HTTP route, add it to deploy/front-door-routes.json (the front door, not a function setting).
 *   2. Give it its least-privilege grants in deploy/iam/function-roles.cjs under the same key (packaging
 *      fails until you do; test/deploy/template.test.ts checks its DynamoDB actions against its code).
 *   3. If it is a Task of the workflow, set `task` to the state name and reference it in the ASL as
 *      `{"Fn::GetAtt": [<key>, "Arn"]}`; the ASL contract test names the rest (retries, catches).
 * Nothing else lists functions: the local stack, the template tests and the IAM roles pick it up from here.
 *
 * Values: strings may hold the osls variables `${param:x}`, `${self:x}`, `${sls:x}`, `${opt:x}`, resolved
 * like in serverless.yml (a string that is one variable keeps the variable's type); objects are
 * CloudFormation intrinsics as JSON (`{ Ref: X }` for `!Ref X`). Defaults (runtime, memorySize 256,
 * timeout 10, the common environment) stay in serverless.yml `provider:`.
 */

const SERVICE = 'binary-backends';
/** The name every deployed function and its role share: `binary-backends-<stage>-<suffix>`. */
const functionName = (stage, suffix) => `${SERVICE}-${stage}-${suffix}`;
/** The logical ID of a function's role (`fooBar` -> `FooBarRole`). */
const roleLogicalId = (key) => `${key[0].toUpperCase()}${key.slice(1)}Role`;
/** The module of a handler string (`functions/x/handler.handler` -> `functions/x/handler`). */
const handlerModule = (handler) => handler.slice(0, handler.lastIndexOf('.'));

const asyncFailuresToDlq = {
  maximumRetryAttempts: 2,
  destinations: { onFailure: { type: 'sqs', arn: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] } } },
};

/**
 * Function keys, handlers and name suffixes are the contract in docs/deploy.md "What gets deployed".
 * Timeouts stay at or below the ASL Task TimeoutSeconds, so a slow step fails as the Lambda's own timeout
 * (Lambda.Unknown) and the Task timeout is only a backstop.
 */
const FUNCTIONS = [
  {
    key: 'starter',
    handler: 'functions/starter/handler.handler',
    suffix: 'starter',
    description: 'Starts an onboarding (CLI and the Onboarding Requested rule share it)',
    timeout: 15,
    environment: { STATE_MACHINE_ARN: { Ref: 'OnboardingStateMachine' } },
    // People reach it through the front door (POST /onboardings, deploy/resources/front-door.cjs).
    deploy: {
      // EventBridge invokes asynchronously: after Lambda's own retries, a failed request lands in the DLQ.
      ...asyncFailuresToDlq,
      events: [
        {
          eventBridge: {
            // This stage's own bus (its policy admits only named principals), and only events put from this
            // account: a cross-account PutEvents would carry its own account.
            eventBus: { Ref: 'ServiceEventBus' },
            name: '${self:service}-${sls:stage}-onboarding-requested',
            description: 'Onboarding Requested -> starter (same entry as the CLI)',
            pattern: {
              account: [{ Ref: 'AWS::AccountId' }],
              source: ['peridio.binary-backends'],
              'detail-type': ['Onboarding Requested'],
            },
            retryPolicy: { maximumEventAge: 3600, maximumRetryAttempts: 10 },
            deadLetterQueueArn: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] },
          },
        },
      ],
    },
  },
  {
    key: 'deactivate',
    handler: 'functions/deactivate/handler.handler',
    suffix: 'deactivate',
    description: "Removes an org's custom-backend routing (one conditional write) and retires its storage locations",
    timeout: 15,
    // People reach it through the front door (POST /deactivations, deploy/resources/front-door.cjs).
  },
  {
    key: 'offboard',
    handler: 'functions/offboard/handler.handler',
    suffix: 'offboard',
    description: 'Offboards retired configs of a backend (platform role, CloudFront keys; docs/locations.md)',
    // Bounded retries on throttling across a few IAM, Secrets Manager and DynamoDB calls.
    timeout: 60,
    // People reach it through the front door (POST /offboardings, deploy/resources/front-door.cjs).
  },
  {
    key: 'recordConfig',
    handler: 'functions/onboarding/record-config/handler.handler',
    suffix: 'record-config',
    task: 'RecordConfig',
    timeout: 30,
    environment: {
      APPROVAL_POLICY: '${param:approvalPolicy}',
      APPROVAL_TIMEOUT_SECONDS: '${param:approvalTimeoutSeconds}',
    },
  },
  {
    key: 'createPlatformRole',
    handler: 'functions/onboarding/create-platform-role/handler.handler',
    suffix: 'create-platform-role',
    task: 'CreatePlatformRole',
    // Waits for the role to be readable, then ROLE_PROPAGATION_DELAY_SECONDS. Task timeout is 300.
    timeout: 120,
    environment: {
      PLATFORM_ACCOUNT_ID: { Ref: 'AWS::AccountId' },
      // The exact roles of the functions that walk the chain (`walksChain` below, comma-separated), not a
      // name prefix: a prefix `binary-backends-dev-*` would also admit the roles of a stage named `dev-eu`.
      PLATFORM_ROLE_TRUSTED_PRINCIPAL_PATTERN: { chainWalkerRoleArns: true },
      PLATFORM_ROLE_PERMISSIONS_BOUNDARY_ARN: { Ref: 'PlatformRoleBoundary' },
      ROLE_PROPAGATION_DELAY_SECONDS: '${param:rolePropagationDelaySeconds}',
    },
  },
  {
    key: 'checkTrust',
    handler: 'functions/onboarding/check-trust/handler.handler',
    suffix: 'check-trust',
    task: 'CheckTrust',
    walksChain: true,
    timeout: 30,
    environment: { PLATFORM_ROLE_GRACE_SECONDS: '${param:platformRoleGraceSeconds}' },
  },
  {
    key: 'verifyUpload',
    handler: 'functions/onboarding/verify-upload/handler.handler',
    suffix: 'verify-upload',
    task: 'VerifyUpload',
    walksChain: true,
    timeout: 90,
    memorySize: 512,
  },
  {
    key: 'verifyDownload',
    handler: 'functions/onboarding/verify-download/handler.handler',
    suffix: 'verify-download',
    task: 'VerifyDownload',
    walksChain: true,
    timeout: 90,
    memorySize: 512,
  },
  {
    key: 'cleanup',
    handler: 'functions/onboarding/cleanup/handler.handler',
    suffix: 'cleanup',
    task: 'Cleanup',
    walksChain: true,
    timeout: 60,
  },
  {
    key: 'activate',
    handler: 'functions/onboarding/activate/handler.handler',
    suffix: 'activate',
    task: 'Activate',
    timeout: 30,
  },
  {
    key: 'requestApproval',
    handler: 'functions/onboarding/request-approval/handler.handler',
    suffix: 'request-approval',
    task: 'RequestApproval',
    description: 'Records the approval request and its task token (RequestApproval, waitForTaskToken)',
    timeout: 30,
  },
  {
    key: 'decideApproval',
    handler: 'functions/approval/handler.handler',
    suffix: 'decide-approval',
    description: 'Approve or reject an onboarding awaiting approval (a verified second principal only)',
    timeout: 15,
    environment: { STATE_MACHINE_ARN: { Ref: 'OnboardingStateMachine' } },
  },
  {
    key: 'recordFailure',
    handler: 'functions/onboarding/record-failure/handler.handler',
    suffix: 'record-failure',
    task: 'RecordFailure',
    timeout: 30,
  },
  {
    key: 'executionStatusChange',
    handler: 'functions/onboarding/execution-status-change/handler.handler',
    suffix: 'execution-status-change',
    description: 'Marks a config whose execution was ABORTED, TIMED_OUT or FAILED outside any Catch',
    timeout: 30,
    deploy: {
      ...asyncFailuresToDlq,
      events: [
        {
          eventBridge: {
            // Step Functions sends status changes to the default bus only.
            name: '${self:service}-${sls:stage}-execution-status-change',
            description: 'Onboarding execution ABORTED / TIMED_OUT / FAILED -> mark its unfinished config',
            pattern: {
              source: ['aws.states'],
              'detail-type': ['Step Functions Execution Status Change'],
              detail: {
                // FAILED too: a run that failed outside any Catch (RecordFailure failed, the history limit)
                // would otherwise leave its config unfinished. One that RecordFailure recorded is left alone.
                status: ['ABORTED', 'TIMED_OUT', 'FAILED'],
                stateMachineArn: [{ Ref: 'OnboardingStateMachine' }],
              },
            },
            retryPolicy: { maximumEventAge: 86400, maximumRetryAttempts: 20 },
            deadLetterQueueArn: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] },
          },
        },
      ],
    },
  },
  {
    key: 'signUrl',
    handler: 'functions/signing/handler.handler',
    suffix: 'sign-url',
    description: 'Signs S3 / CloudFront URLs for internal services (DESIGN "Signing")',
    walksChain: true,
    timeout: 15,
    // RSA signing is CPU-bound; Lambda CPU scales with memory.
    memorySize: '${param:signerMemorySize}',
    environment: {
      DEFAULT_BUCKET: '${param:defaultBucket}',
      DEFAULT_BUCKET_REGION: '${param:defaultBucketRegion}',
      DEFAULT_SIGNER_ROLE_ARN: { 'Fn::GetAtt': ['DefaultStorageSignerRole', 'Arn'] },
      CONFIG_CACHE_TTL_SECONDS: '${param:configCacheTtlSeconds}',
      CREDENTIAL_REFRESH_THRESHOLD_SECONDS: '${param:credentialRefreshThresholdSeconds}',
    },
  },
];

// Keys and suffixes are unique, tasks too: a copy-pasted entry fails at load, not at deploy.
for (const field of ['key', 'suffix', 'task']) {
  const seen = FUNCTIONS.map((f) => f[field]).filter((v) => v !== undefined);
  const dup = seen.find((v, i) => seen.indexOf(v) !== i);
  if (dup !== undefined) throw new Error(`functions/catalog.cjs: two functions with ${field} ${dup}`);
}

/** osls variables this file resolves itself (CloudFormation's own `${AWS::...}` are left alone). */
const VARIABLE = /\$\{((?:param|self|sls|opt):[^}]+)\}/g;

async function resolveString(s, resolveVariable) {
  const whole = /^\$\{((?:param|self|sls|opt):[^}]+)\}$/.exec(s);
  if (whole) return resolveVariable(whole[1]);
  let out = '';
  let last = 0;
  for (const m of s.matchAll(VARIABLE)) {
    out += s.slice(last, m.index) + String(await resolveVariable(m[1]));
    last = m.index + m[0].length;
  }
  return out + s.slice(last);
}

async function resolveDeep(value, resolveVariable) {
  if (typeof value === 'string') return resolveString(value, resolveVariable);
  if (Array.isArray(value)) return Promise.all(value.map((v) => resolveDeep(v, resolveVariable)));
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = await resolveDeep(v, resolveVariable);
    return out;
  }
  return value;
}

/**
 * serverless.yml `functions:`, one entry per catalog function (osls calls this with its resolver).
 * Every function has its own role (deploy/iam/function-roles.cjs), named like the function, so the platform
 * roles' trust (`ArnLike aws:PrincipalArn` on the exact ARNs of the chain-walking functions' roles) admits
 * them and survives a redeploy that recreates a role.
 */
async function serverlessFunctions({ resolveVariable }) {
  const stage = await resolveVariable('sls:stage');
  const chainWalkerRoleArns = {
    'Fn::Join': [
      ',',
      FUNCTIONS.filter((f) => f.walksChain).map((f) => ({
        'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/${functionName(stage, f.suffix)}`,
      })),
    ],
  };
  const out = {};
  for (const f of FUNCTIONS) {
    const environment = {};
    for (const [name, value] of Object.entries(f.environment ?? {})) {
      environment[name] = value?.chainWalkerRoleArns ? chainWalkerRoleArns : await resolveDeep(value, resolveVariable);
    }
    out[f.key] = {
      handler: f.handler,
      name: functionName(stage, f.suffix),
      ...(f.description ? { description: f.description } : {}),
      role: roleLogicalId(f.key),
      timeout: f.timeout,
      ...(f.memorySize !== undefined ? { memorySize: await resolveDeep(f.memorySize, resolveVariable) } : {}),
      ...(await resolveDeep(f.deploy ?? {}, resolveVariable)),
      ...(Object.keys(environment).length > 0 ? { environment } : {}),
    };
  }
  return out;
}

module.exports = { SERVICE, FUNCTIONS, functionName, roleLogicalId, handlerModule, serverlessFunctions };
