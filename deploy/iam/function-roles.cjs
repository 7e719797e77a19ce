'use strict';
/**
 * One IAM role per function, least privilege, as CloudFormation resources (serverless.yml loads this with
 * `${file(deploy/iam/function-roles.cjs)}`). A table instead of twelve hand-copied YAML roles, so the
 * boilerplate every role shares (Lambda trust, its own log group, the boundary Deny, X-Ray) is written once
 * and the per-function grants below read as the whole story of what each function may do.
 *
 * Rules (asserted by test/deploy/template.test.ts against the synthesized template):
 * - Role name = function name = `binary-backends-<stage>-<suffix>`. The platform roles' trust names the
 *   chain-walking functions' role ARNs exactly (`ArnLike aws:PrincipalArn`, no prefix wildcard, so a stage
 *   `dev-eu` is not admitted by stage `dev`), and a redeploy that recreates a role (new unique ID) breaks no
 *   trust: condition keys are compared as ARNs, not converted to unique IDs.
 * - No Action "*"; no Resource "*" except X-Ray (below), which has no resource-level permissions.
 * - Only createPlatformRole, activate and offboard touch IAM, only on `role/binary_backend_*`, and CreateRole /
 *   PutRolePolicy / DeleteRolePolicy only when the role has (or gets) the platform permissions boundary and this
 *   stage's tags;
 *   TagRole / UpdateAssumeRolePolicy only on roles tagged for this service and stage; no UntagRole.
 * - Every role explicitly denies changing or removing any role's permissions boundary, and deleting roles
 *   (DESIGN: platform roles are never deleted and recreated; that would silently break customer trust). The one
 *   exception is offboard, which deletes a platform role once no config needs it (never to recreate it in the
 *   same run): its Deny of iam:DeleteRole covers every role not tagged for this service and stage.
 * - Events go out only with source `peridio.binary-backends`.
 */

const catalog = require('../../functions/catalog.cjs');

const { SERVICE } = catalog;
const EVENT_SOURCE = 'peridio.binary-backends';
// Tag keys CreatePlatformRole puts on platform roles (functions/onboarding/create-platform-role).
const TAG_SERVICE = 'peridio:service';
const TAG_ORG = 'peridio:org-id';
const TAG_BACKEND = 'peridio:backend';
const TAG_STAGE = 'peridio:stage';

/** `Fn::Sub` with the partition/region/account pseudo parameters available. */
const sub = (s) => ({ 'Fn::Sub': s });
const arn = (service, rest, regional = true) =>
  sub(`arn:\${AWS::Partition}:${service}:${regional ? '${AWS::Region}' : ''}:\${AWS::AccountId}:${rest}`);

/** The role's logical ID, which the catalog gives each function as its `role` (`fooBar` -> `FooBarRole`). */
const logicalIdFor = catalog.roleLogicalId;

module.exports = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  // Decided at package time, not with a CloudFormation condition on two literals (cfn-lint W8003).
  const tracing = String(await resolveVariable('param:tracing')) === 'true';
  const stateMachineName = await resolveVariable('self:custom.stateMachineName');

  const fn = (suffix) => catalog.functionName(stage, suffix);
  const table = { 'Fn::GetAtt': ['BackendsTable', 'Arn'] };
  const stateMachine = arn('states', `stateMachine:${stateMachineName}`);
  // Built from the name, not `Ref OnboardingStateMachine`: the state machine depends on these functions,
  // so a Ref from their roles would be a circular dependency.
  const executions = await resolveVariable('self:custom.executionArnPattern');
  const platformRoles = arn('iam', 'role/binary_backend_*', false);
  const anyRole = arn('iam', 'role/*', false);
  const eventBus = await resolveVariable('self:custom.eventBusArn');
  const cloudFrontKeySecrets = await resolveVariable('self:custom.secretArnPattern');
  const boundaryArn = { Ref: 'PlatformRoleBoundary' };
  // A platform role is this stage's when it carries this stage's boundary AND this service's and stage's tags
  // (CreatePlatformRole tags every role it creates). Both, because the two conditions cover different actions:
  // iam:PermissionsBoundary exists only for CreateRole / PutRolePolicy / ..., tags for every role action.
  const ownTags = { [`aws:ResourceTag/${TAG_SERVICE}`]: SERVICE, [`aws:ResourceTag/${TAG_STAGE}`]: stage };
  const ownTagKeys = { 'ForAllValues:StringEquals': { 'aws:TagKeys': [TAG_SERVICE, TAG_ORG, TAG_BACKEND, TAG_STAGE] } };
  const boundaryCondition = { StringEquals: { 'iam:PermissionsBoundary': boundaryArn, ...ownTags } };

  const allow = (Sid, Action, Resource, Condition) => ({
    Sid,
    Effect: 'Allow',
    Action,
    Resource,
    ...(Condition ? { Condition } : {}),
  });

  // Reusable grants.
  // The table, with exactly the DynamoDB actions the function's code calls: GetItem reads the org item,
  // UpdateItem is every change (each one conditional write), PutItem writes audit events (attribute_not_exists,
  // so a retry neither duplicates nor loses one). test/deploy/template.test.ts derives each function's calls
  // from its code (test/deploy/code-calls.ts) and compares.
  const tableActions = (...actions) => allow('BackendRecords', actions.map((a) => `dynamodb:${a}`), table);
  const readTable = tableActions('GetItem');
  const writeTable = tableActions('GetItem', 'UpdateItem', 'PutItem');
  // Plus Query: the org's location items (pk ORG#<orgId>, sk LOCATION#...; functions/shared/records/location-read.ts).
  const writeTableAndLocations = tableActions('GetItem', 'UpdateItem', 'PutItem', 'Query');
  // One value per PutEvents entry: EventBridge authorizes each entry on its own source, and its user guide's
  // condition-key table and examples use StringEquals on `events:source` (docs/deploy.md "IAM").
  const emitEvents = allow('EmitOwnEventsOnly', ['events:PutEvents'], eventBus, {
    StringEquals: { 'events:source': EVENT_SOURCE },
  });
  // Hop 1 of the chain; hop 2 (the customer's role) is signed with the platform role's credentials and is
  // granted by that role's own inline policy, not here.
  const assumePlatformRoles = allow('AssumePlatformRoles', ['sts:AssumeRole'], platformRoles);
  const describeExecutions = allow('DescribeOnboardingExecutions', ['states:DescribeExecution'], executions);
  const readCloudFrontKeys = allow('ReadCloudFrontKeys', ['secretsmanager:GetSecretValue'], cloudFrontKeySecrets);
  const deadLetter = allow('AsyncFailuresToDeadLetterQueue', ['sqs:SendMessage'], {
    'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'],
  });

  /** Catalog key -> its own grants (docs/deploy.md "What gets deployed"). Names come from functions/catalog.cjs. */
  const grants = {
    starter: {
      statements: [
        allow('StartOnboarding', ['states:StartExecution'], stateMachine),
        // Dedupe: a double submit returns the running execution; a stopped holder is taken over.
        describeExecutions,
        tableActions('GetItem', 'UpdateItem'), // allocates configVersion
        deadLetter,
      ],
    },
    // Query: lists the org's location items to retire them (docs/locations.md).
    deactivate: { statements: [writeTableAndLocations, emitEvents] },
    // Offboarding (docs/locations.md): marks retired location items offboarded (GetItem/Query read the org and its
    // locations, UpdateItem/PutItem mark them and write the audit event; GetItem/PutItem release their cross-org
    // claims), deletes or narrows the backend's platform
    // role, schedules deletion of CloudFront key secrets (with a recovery window: the code never forces it).
    offboard: {
      statements: [
        tableActions('GetItem', 'Query', 'UpdateItem', 'PutItem'),
        // Read-only, and answered NoSuchEntity for a role already gone; no tag condition so the smoke probe (a role
        // that does not exist) is authorized.
        allow('ListPlatformRolePolicies', ['iam:ListRolePolicies'], platformRoles),
        // Narrowing the policy and deleting it: only roles that carry this stage's boundary and tags, like the
        // other PutRolePolicy grants (DeleteRolePolicy has the iam:PermissionsBoundary key too).
        allow('PutOrDeletePolicyOnlyOnBoundedPlatformRoles', ['iam:PutRolePolicy', 'iam:DeleteRolePolicy'], platformRoles, boundaryCondition),
        // The one role that may delete a role: only binary_backend_* roles tagged for this service and stage.
        allow('DeleteOwnPlatformRolesOnly', ['iam:DeleteRole'], platformRoles, { StringEquals: ownTags }),
        allow('ScheduleDeletionOfCloudFrontKeys', ['secretsmanager:DeleteSecret'], cloudFrontKeySecrets),
        emitEvents,
      ],
      // Its Deny keeps boundaries untouchable; DeleteRole is instead denied on every role not tagged for this
      // service and stage (a missing tag counts as not matching), one statement per tag so either mismatch denies.
      mayDeleteOwnPlatformRoles: true,
    },
    recordConfig: {
      // DescribeExecution: a holder that is no longer running is taken over (marked ABANDONED).
      statements: [writeTable, describeExecutions],
    },
    createPlatformRole: {
      statements: [
        allow('CreatePlatformRoleOnlyWithBoundary', ['iam:CreateRole'], platformRoles, {
          StringEquals: {
            'iam:PermissionsBoundary': boundaryArn,
            // Created with our tags, which is how a later run recognises (adopts) it.
            [`aws:RequestTag/${TAG_SERVICE}`]: SERVICE,
            [`aws:RequestTag/${TAG_STAGE}`]: stage,
          },
          ...ownTagKeys,
        }),
        // For PutRolePolicy, iam:PermissionsBoundary is the boundary already attached to the target role: a
        // binary_backend_* role without this stage's boundary and tags cannot be given a policy at all.
        allow('PutPolicyOnlyOnBoundedPlatformRoles', ['iam:PutRolePolicy'], platformRoles, boundaryCondition),
        // Adopt (a retry or a re-onboarding): bring the trust back to ours. UpdateAssumeRolePolicy has no
        // iam:PermissionsBoundary condition key, so it is limited to roles tagged as this service's and stage's.
        allow('UpdateTrustOfOwnPlatformRolesOnly', ['iam:UpdateAssumeRolePolicy'], platformRoles, { StringEquals: ownTags }),
        allow('ReadPlatformRoles', ['iam:GetRole', 'iam:ListRoleTags'], platformRoles),
        // CreateRole with Tags also needs iam:TagRole (the only tagging the service does; it never calls
        // TagRole or UntagRole on an existing role, so UntagRole is not granted at all). Only our four keys, with
        // this service's and stage's values, and never onto a role tagged for another service or stage. IfExists
        // because the role being created has no tags yet; TagRole has no iam:PermissionsBoundary key, so an
        // untagged foreign binary_backend_* role is the one thing this admits, and such a role still cannot be
        // adopted (CreatePlatformRole checks its boundary) or given a policy (PutRolePolicy needs the boundary).
        allow('TagPlatformRolesWithOwnKeysOnly', ['iam:TagRole'], platformRoles, {
          ...ownTagKeys,
          StringEquals: { [`aws:RequestTag/${TAG_SERVICE}`]: SERVICE, [`aws:RequestTag/${TAG_STAGE}`]: stage },
          StringEqualsIfExists: ownTags,
        }),
        // Query: the location items whose customer roles the inline policy keeps assumable.
        writeTableAndLocations,
        emitEvents,
      ],
    },
    checkTrust: { statements: [assumePlatformRoles, tableActions('UpdateItem', 'PutItem')] },
    verifyUpload: { statements: [assumePlatformRoles, tableActions('GetItem', 'UpdateItem')] },
    verifyDownload: { statements: [assumePlatformRoles, readCloudFrontKeys, tableActions('GetItem', 'UpdateItem')] },
    // Only the customer's bucket, through the role chain: Cleanup keeps no record.
    cleanup: { statements: [assumePlatformRoles] },
    activate: {
      statements: [
        // Rewrites the platform role's inline policy from the records once the new config serves.
        allow('PutPolicyOnlyOnBoundedPlatformRoles', ['iam:PutRolePolicy'], platformRoles, boundaryCondition),
        // Query, PutItem, UpdateItem: materialises, puts and retires location items (docs/locations.md).
        writeTableAndLocations,
        emitEvents,
      ],
    },
    // GetItem: recognises a config this execution already activated, and reads the claims it releases.
    recordFailure: { statements: [tableActions('GetItem', 'UpdateItem', 'PutItem'), emitEvents] },
    // Records AWAITING_APPROVAL and the task token; emits Approval Requested. It cannot complete its own wait.
    requestApproval: { statements: [tableActions('UpdateItem', 'PutItem'), emitEvents] },
    decideApproval: {
      statements: [
        // The only role that may end an approval wait, and only of this stage's onboarding state machine.
        allow('DecideOnboardingApprovalsOnly', ['states:SendTaskSuccess', 'states:SendTaskFailure'], stateMachine),
        describeExecutions,
        tableActions('GetItem', 'UpdateItem', 'PutItem'),
      ],
    },
    executionStatusChange: {
      // Marks the config ABANDONED and emits Onboarding Failed.
      statements: [tableActions('UpdateItem', 'PutItem'), emitEvents, deadLetter],
    },
    signUrl: {
      statements: [
        readTable,
        allow('AssumePlatformRolesAndDefaultStorageSigner', ['sts:AssumeRole'], [
          platformRoles,
          { 'Fn::GetAtt': ['DefaultStorageSignerRole', 'Arn'] },
        ]),
        readCloudFrontKeys,
      ],
    },
  };

  // One role per catalog function, and no grants for a function the catalog does not have.
  const missing = catalog.FUNCTIONS.filter((f) => !grants[f.key]).map((f) => f.key);
  const unknown = Object.keys(grants).filter((key) => !catalog.FUNCTIONS.some((f) => f.key === key));
  if (missing.length > 0 || unknown.length > 0) {
    throw new Error(
      `deploy/iam/function-roles.cjs and functions/catalog.cjs disagree: no grants for [${missing.join(', ')}]; ` +
        `grants for functions not in the catalog: [${unknown.join(', ')}]`,
    );
  }

  const resources = {};
  for (const [key, { statements, mayDeleteOwnPlatformRoles }] of Object.entries(grants)) {
    const name = fn(catalog.FUNCTIONS.find((f) => f.key === key).suffix);
    resources[logicalIdFor(key)] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        RoleName: name,
        Description: `Execution role of the ${name} function (one role per function)`,
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 'lambda.amazonaws.com' },
              Action: 'sts:AssumeRole',
            },
          ],
        },
        Policies: [
          {
            PolicyName: 'least-privilege',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                allow('OwnLogGroupOnly', ['logs:CreateLogStream', 'logs:PutLogEvents'], arn('logs', `log-group:/aws/lambda/${name}:*`)),
                ...statements,
                ...(mayDeleteOwnPlatformRoles
                  ? [
                      {
                        Sid: 'NeverTouchBoundaries',
                        Effect: 'Deny',
                        Action: ['iam:DeleteRolePermissionsBoundary', 'iam:PutRolePermissionsBoundary'],
                        Resource: anyRole,
                      },
                      ...[TAG_SERVICE, TAG_STAGE].map((tag) => ({
                        Sid: tag === TAG_SERVICE ? 'NeverDeleteRolesOfOtherServices' : 'NeverDeleteRolesOfOtherStages',
                        Effect: 'Deny',
                        Action: ['iam:DeleteRole'],
                        Resource: anyRole,
                        Condition: { StringNotEquals: { [`aws:ResourceTag/${tag}`]: ownTags[`aws:ResourceTag/${tag}`] } },
                      })),
                    ]
                  : [
                      {
                        Sid: 'NeverTouchBoundariesOrDeleteRoles',
                        Effect: 'Deny',
                        Action: ['iam:DeleteRolePermissionsBoundary', 'iam:PutRolePermissionsBoundary', 'iam:DeleteRole'],
                        Resource: anyRole,
                      },
                    ]),
                // Resource "*" exception: X-Ray's PutTraceSegments/PutTelemetryRecords support no
                // resource-level permissions, so AWS requires "*" (it is what AWSXRayDaemonWriteAccess grants).
                ...(tracing
                  ? [{ Sid: 'XRayRequiresResourceStar', Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' }]
                  : []),
              ],
            },
          },
        ],
        Tags: [
          { Key: 'service', Value: SERVICE },
          { Key: 'stage', Value: stage },
        ],
      },
    };
  }
  return resources;
};

module.exports.logicalIdFor = logicalIdFor;
