'use strict';
/**
 * The people-facing front door: an API Gateway HTTP API whose every route is `AWS_IAM`-authorized, so the
 * caller's ARN comes from API Gateway (`requestContext.authorizer.iam`, payload 2.0), never from the body
 * (functions/shared/caller.ts). serverless.yml loads this with `${file(deploy/resources/front-door.cjs)}`.
 *
 * The routes are one table, deploy/front-door-routes.json, read by this file and by the local stand-in
 * (local/api-gateway.ts). To add a route, e.g. `POST /approvals` -> the function keyed `decideApproval`:
 *   1. add `{ "routeKey": "POST /approvals", "function": "decideApproval" }` to that file;
 *   2. add its execute-api ARN to the Support policy's `InvokeFrontDoorRoutes` (deploy/resources/people-iam.yml);
 *   3. have the handler answer HTTP API events (functions/shared/http-api.ts `answeringHttpApi`) and take the
 *      caller from `requestWithCaller` (functions/shared/requester.ts).
 * Written as plain resources rather than osls `httpApi` events so that every route is AWS_IAM by construction
 * here (there is no way to declare a route without it) and the template stays cfn-lint clean.
 */
const ROUTES = require('../front-door-routes.json');

const pascal = (s) => s.replace(/(^|[^A-Za-z0-9])([A-Za-z0-9])/g, (_, __, c) => c.toUpperCase());
const functionLogicalId = (key) => `${key[0].toUpperCase()}${key.slice(1)}LambdaFunction`;

module.exports = async ({ resolveVariable }) => {
  const stage = await resolveVariable('sls:stage');
  const retention = Number(await resolveVariable('param:logRetentionDays'));
  const resources = {
    FrontDoorApi: {
      Type: 'AWS::ApiGatewayV2::Api',
      Properties: {
        Name: `binary-backends-${stage}-front-door`,
        ProtocolType: 'HTTP',
        Description: 'binary-backends: onboard / deactivate for people, AWS_IAM (SigV4) on every route',
        Tags: { service: 'binary-backends', stage },
      },
    },
    FrontDoorAccessLogs: {
      Type: 'AWS::Logs::LogGroup',
      Properties: { LogGroupName: `/aws/vendedlogs/binary-backends-${stage}-front-door`, RetentionInDays: retention },
    },
    FrontDoorStage: {
      Type: 'AWS::ApiGatewayV2::Stage',
      Properties: {
        ApiId: { Ref: 'FrontDoorApi' },
        StageName: '$default',
        AutoDeploy: true,
        // People call this by hand: a low limit keeps a runaway script from flooding the starter.
        DefaultRouteSettings: { ThrottlingBurstLimit: 20, ThrottlingRateLimit: 10 },
        // Who called which route, as API Gateway verified it (an audit trail beside the records).
        AccessLogSettings: {
          DestinationArn: { 'Fn::GetAtt': ['FrontDoorAccessLogs', 'Arn'] },
          Format: JSON.stringify({
            requestId: '$context.requestId',
            routeKey: '$context.routeKey',
            status: '$context.status',
            userArn: '$context.identity.userArn',
            accountId: '$context.identity.accountId',
            sourceIp: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            integrationError: '$context.integrationErrorMessage',
          }),
        },
      },
    },
  };
  for (const { routeKey, function: key } of ROUTES) {
    const [method, path] = routeKey.split(' ');
    const fn = functionLogicalId(key);
    const integration = `FrontDoorIntegration${pascal(key)}`;
    resources[integration] ??= {
      Type: 'AWS::ApiGatewayV2::Integration',
      Properties: {
        ApiId: { Ref: 'FrontDoorApi' },
        IntegrationType: 'AWS_PROXY',
        IntegrationUri: { 'Fn::GetAtt': [fn, 'Arn'] },
        PayloadFormatVersion: '2.0',
      },
    };
    resources[`FrontDoorRoute${pascal(method.toLowerCase())}${pascal(path)}`] = {
      Type: 'AWS::ApiGatewayV2::Route',
      Properties: {
        ApiId: { Ref: 'FrontDoorApi' },
        RouteKey: routeKey,
        AuthorizationType: 'AWS_IAM',
        Target: { 'Fn::Sub': `integrations/\${${integration}}` },
      },
    };
    resources[`FrontDoorPermission${pascal(method.toLowerCase())}${pascal(path)}`] = {
      Type: 'AWS::Lambda::Permission',
      Properties: {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
        Principal: 'apigateway.amazonaws.com',
        SourceArn: { 'Fn::Sub': `arn:\${AWS::Partition}:execute-api:\${AWS::Region}:\${AWS::AccountId}:\${FrontDoorApi}/*/${method}${path}` },
      },
    };
  }
  return resources;
};
