/** API Gateway HTTP API (payload 2.0) events, as the `AWS_IAM` authorizer hands them to a function. */
export const SUPPORT_ARN = 'arn:aws:sts::111111111111:assumed-role/Support/alice';

export function httpApiEvent(
  routeKey: string,
  body: unknown,
  iam: { userArn: string; accountId: string } | null = { userArn: SUPPORT_ARN, accountId: '111111111111' },
) {
  const [method, path] = routeKey.split(' ');
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: {
      accountId: '111111111111',
      apiId: 'api1',
      requestId: 'req-1',
      routeKey,
      stage: '$default',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      ...(iam ? { authorizer: { iam: { ...iam, accessKey: 'ASIAEXAMPLE', callerId: 'AROAEXAMPLE:alice', userId: 'AROAEXAMPLE:alice' } } } : {}),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
  };
}
