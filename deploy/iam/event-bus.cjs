'use strict';
/**
 * This stage's own event bus (`binary-backends-<stage>`, param `eventBusName`) and its resource policy, as
 * CloudFormation resources (serverless.yml loads this with `${file(deploy/iam/event-bus.cjs)}`).
 *
 * Who may put events on it:
 * - the principals named by the stage param `onboardingRequesterArns` (comma-separated; ArnLike patterns
 *   allowed, but none may match the function roles), and only *Onboarding Requested* with source
 *   `peridio.binary-backends`;
 * - this stack's own function roles that emit the service's events (EMITTING_FUNCTIONS), only with source
 *   `peridio.binary-backends` and never *Onboarding Requested*.
 * Everyone else is denied explicitly. The Deny matters: within the account an identity policy alone grants
 * `events:PutEvents` (a resource policy is not required to allow it), so an Allow-only bus policy would
 * not keep out an administrator-like role with `events:*`. An explicit Deny in the resource policy does.
 * [UNVERIFIED] that EventBridge evaluates Deny statements with `Principal: "*"` in a bus policy exactly like
 * IAM (AWS's bus-policy examples show Allow statements; cfn-lint accepts the document). Check on the first
 * deploy: a PutEvents by an unnamed admin role must fail with AccessDeniedException.
 * The *Onboarding Requested* rule on this bus also matches only `account: [<this account>]`.
 *
 * Who is a requester is not who is recorded: an event's `requestedBy` is still recorded as `claimed:<...>`
 * (functions/shared/requester.ts); the verified path for people is the IAM-authorized HTTP API.
 */

const SERVICE = 'binary-backends';
const EVENT_SOURCE = 'peridio.binary-backends';
const ONBOARDING_REQUESTED = 'Onboarding Requested';
/**
 * Name suffixes of the functions whose roles put events (the roles with `EmitOwnEventsOnly` in
 * function-roles.cjs; test/deploy/template.test.ts checks the two lists agree).
 */
const EMITTING_FUNCTIONS = ['deactivate', 'offboard', 'create-platform-role', 'activate', 'record-failure', 'execution-status-change', 'request-approval'];

const sub = (s) => ({ 'Fn::Sub': s });

/** Comma-separated ARNs from a stage param; throws (at package time) on anything that is not an ARN. */
function arnList(raw, param) {
  const items = String(raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!/^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*):\S+$/.test(item)) {
      throw new Error(`param ${param}: "${item}" is not an IAM principal ARN (arn:<partition>:iam::<account>:role/<name>, ...)`);
    }
  }
  return items;
}

/**
 * The bus's resource policy. Values may be strings or CloudFormation intrinsics (the template) or plain
 * strings (the local stack, local/stack.ts, evaluates the very same document).
 * @param busArn the bus's ARN; `account` the Principal of the account's own callers (`{AWS: <root ARN>}`);
 *   `requesters` / `emitters` ArnLike values of `aws:PrincipalArn`.
 */
function busPolicy({ busArn, account, requesters, emitters }) {
  const statements = [
    {
      Sid: 'OwnFunctionsPutServiceEvents',
      Effect: 'Allow',
      Principal: account,
      Action: 'events:PutEvents',
      Resource: busArn,
      Condition: { ArnLike: { 'aws:PrincipalArn': emitters }, StringEquals: { 'events:source': EVENT_SOURCE } },
    },
    ...(requesters.length > 0
      ? [
          {
            Sid: 'NamedRequestersPutOnboardingRequested',
            Effect: 'Allow',
            Principal: account,
            Action: 'events:PutEvents',
            Resource: busArn,
            Condition: {
              ArnLike: { 'aws:PrincipalArn': requesters },
              StringEquals: { 'events:source': EVENT_SOURCE, 'events:detail-type': ONBOARDING_REQUESTED },
            },
          },
        ]
      : []),
    ...(requesters.length > 0
      ? [
          {
            // Requesters request; they do not announce activations or failures.
            Sid: 'RequestersPutNothingElse',
            Effect: 'Deny',
            Principal: '*',
            Action: 'events:PutEvents',
            Resource: busArn,
            Condition: {
              ArnLike: { 'aws:PrincipalArn': requesters },
              StringNotEquals: { 'events:detail-type': ONBOARDING_REQUESTED },
            },
          },
        ]
      : []),
    {
      Sid: 'EveryoneElseDenied',
      Effect: 'Deny',
      Principal: '*',
      Action: 'events:PutEvents',
      Resource: busArn,
      Condition: { ArnNotLike: { 'aws:PrincipalArn': [...requesters, ...emitters] } },
    },
    {
      Sid: 'OnlyNamedRequestersRequestOnboardings',
      Effect: 'Deny',
      Principal: '*',
      Action: 'events:PutEvents',
      Resource: busArn,
      Condition: {
        StringEquals: { 'events:detail-type': ONBOARDING_REQUESTED },
        ...(requesters.length > 0 ? { ArnNotLike: { 'aws:PrincipalArn': requesters } } : {}),
      },
    },
  ];

  return { Version: '2012-10-17', Statement: statements };
}

module.exports = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  const busName = String(await resolveVariable('param:eventBusName'));
  if (busName === 'default' || busName.startsWith('arn:')) {
    throw new Error(`param eventBusName: "${busName}" must be the plain name of this stage's own bus, which the stack creates`);
  }
  const requesters = arnList(await resolveVariable('param:onboardingRequesterArns'), 'onboardingRequesterArns');
  const emitters = EMITTING_FUNCTIONS.map((suffix) => sub(`arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/${SERVICE}-${stage}-${suffix}`));
  const busArn = sub(`arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:event-bus/${busName}`);
  const account = { AWS: sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:root') };

  const policy = busPolicy({ busArn, account, requesters, emitters });

  return {
    ServiceEventBus: {
      Type: 'AWS::Events::EventBus',
      Properties: {
        Name: busName,
        Description: `${SERVICE} ${stage}: Onboarding Requested and the service's events (named principals only)`,
        Policy: policy,
        Tags: [
          { Key: 'service', Value: SERVICE },
          { Key: 'stage', Value: stage },
        ],
      },
    },
  };
};

module.exports.EMITTING_FUNCTIONS = EMITTING_FUNCTIONS;
module.exports.busPolicy = busPolicy;
