/**
 * API Gateway stand-in: the people-facing HTTP API (payload 2.0) with `AWS_IAM` authorization on every
 * route, like the deployed front door (deploy/resources/front-door.cjs; both read the route table
 * deploy/front-door-routes.json).
 *
 * Each request's SigV4 signature (service `execute-api`) is verified against the local key registry; an
 * unsigned or badly signed request is answered 403 `{"message": ...}` the way API Gateway answers it,
 * and never reaches a function. A verified request becomes the payload-2.0 event, with the signer in
 * `requestContext.authorizer.iam` (userArn, accountId, accessKey, callerId), and the route's REAL handler
 * runs through the Lambda registry. The function's `{statusCode, headers, body}` is the HTTP response; a
 * function error is a 500 `{"message": "Internal Server Error"}`, as API Gateway answers it.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsError, parseRawQuery, readBody, send, sha256Hex, splitUrl } from './aws-protocol';
import { authenticate, REGION, type AuthErrorCodes, type KeyRegistry } from './identity';
import type { FunctionKey, LambdaRegistry } from './lambda';

/** How API Gateway words its IAM-authorization refusals (HTTP 403, body `{"message": ...}`). */
const API_GATEWAY_AUTH_ERRORS: AuthErrorCodes = {
  missing: ['ForbiddenException', 'Forbidden', 403],
  unknownKey: ['UnrecognizedClientException', 'The security token included in the request is invalid.', 403],
  expired: ['ExpiredTokenException', 'The security token included in the request is expired', 403],
  badToken: ['UnrecognizedClientException', 'The security token included in the request is invalid.', 403],
  badSignature: [
    'InvalidSignatureException',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    403,
  ],
};

export interface FrontDoorRoute {
  routeKey: string;
  function: FunctionKey;
}

export const FRONT_DOOR_ROUTES = JSON.parse(
  readFileSync(new URL('../deploy/front-door-routes.json', import.meta.url), 'utf8'),
) as FrontDoorRoute[];

function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

/** The HTTP handler of the local front door. `accountId` is the API's own account (requestContext.accountId). */
export function apiGatewayHandler(registry: LambdaRegistry, keys: KeyRegistry, accountId: string, apiId = 'localfrontdoor') {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    try {
      const body = await readBody(req, 10 * 1024 * 1024);
      const { path, rawQuery } = splitUrl(req.url ?? '/');
      const routeKey = `${req.method ?? 'GET'} ${path}`;
      const route = FRONT_DOOR_ROUTES.find((r) => r.routeKey === routeKey);
      if (!route) return answer(res, 404, { message: 'Not Found' }, { 'x-amzn-errortype': 'NotFoundException' });
      const query = parseRawQuery(rawQuery);
      const { credential, sig } = authenticate(keys, req, { rawPath: path, query, bodySha256: sha256Hex(body), s3: false }, API_GATEWAY_AUTH_ERRORS);
      if (sig.service !== 'execute-api') {
        throw new AwsError('InvalidSignatureException', `Credential should be scoped to correct service: 'execute-api'.`, 403);
      }
      if (sig.region !== REGION) {
        throw new AwsError('InvalidSignatureException', `Credential should be scoped to a valid region.`, 403);
      }
      const now = new Date();
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(',') : String(v ?? '')]),
      );
      const principal = credential.principal;
      const event = {
        version: '2.0',
        routeKey,
        rawPath: path,
        rawQueryString: rawQuery,
        headers,
        requestContext: {
          accountId,
          apiId,
          authorizer: {
            iam: {
              accessKey: credential.accessKeyId,
              accountId: principal.accountId,
              callerId: principal.userId,
              principalOrgId: null,
              userArn: principal.arn,
              userId: principal.userId,
            },
          },
          domainName: String(req.headers.host ?? '127.0.0.1'),
          domainPrefix: apiId,
          http: { method: req.method, path, protocol: `HTTP/${req.httpVersion}`, sourceIp: '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
          requestId,
          routeKey,
          stage: '$default',
          time: now.toISOString(),
          timeEpoch: now.getTime(),
        },
        ...(body.length > 0 ? { body: body.toString('utf8') } : {}),
        isBase64Encoded: false,
      };
      let result: unknown;
      try {
        result = await registry.invoke(registry.functionName(route.function), event);
      } catch {
        return answer(res, 500, { message: 'Internal Server Error' }, { 'apigw-requestid': requestId });
      }
      const r = result as { statusCode?: number; headers?: Record<string, string>; body?: string } | null;
      if (r && typeof r === 'object' && typeof r.statusCode === 'number') {
        return send(res, r.statusCode, r.body ?? '', { ...(r.headers ?? {}), 'apigw-requestid': requestId });
      }
      // Payload 2.0: a result without statusCode is a 200 JSON body.
      return answer(res, 200, result, { 'apigw-requestid': requestId });
    } catch (err) {
      const e = err instanceof AwsError ? err : new AwsError('InternalServerErrorException', 'Internal Server Error', 500);
      return answer(res, e.status, { message: e.message }, { 'x-amzn-errortype': e.code, 'apigw-requestid': requestId });
    }
  };
}
