'use strict';
/**
 * X-Ray for the state machine's role, only when the `tracing` stage param is on (prod by default). Decided here,
 * at package time, rather than with a CloudFormation condition: osls resolves stage params before CloudFormation
 * sees them, so such a condition compares two literals and is constant (cfn-lint W8003). The function roles get
 * theirs the same way (function-roles.cjs).
 */
module.exports = async ({ resolveVariable }) => {
  const tracing = String(await resolveVariable('param:tracing')) === 'true';
  if (!tracing) return {};
  return {
    OnboardingStateMachineXRayPolicy: {
      Type: 'AWS::IAM::RolePolicy',
      Properties: {
        RoleName: { Ref: 'OnboardingStateMachineRole' },
        PolicyName: 'xray',
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              // Resource "*" exception: X-Ray actions support no resource-level permissions.
              Sid: 'XRayRequiresResourceStar',
              Effect: 'Allow',
              Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
              Resource: '*',
            },
          ],
        },
      },
    },
  };
};
