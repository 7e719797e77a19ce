/**
 * Who is asking: the caller's identity as AWS established it, never as the request body claims it.
 *
 * The people-facing entry points (onboard, deactivate, approve, reject, offboard ...) sit behind an
 * API Gateway HTTP API with `AWS_IAM` authorization. API Gateway verifies the SigV4 signature and puts the
 * signer's identity into `requestContext.authorizer.iam` (payload format 2.0); that is the only source of a
 * `verified` caller. Anything else (an EventBridge event, a direct Lambda invoke) has no identity AWS
 * vouches for: what it says is recorded as *claimed*.
 */

/** The caller of a request. */
export interface Caller {
  /** The IAM principal ARN (`arn:aws:iam::…:user/…` or `arn:aws:sts::…:assumed-role/…/…`), or the claim. */
  arn: string;
  /** The caller's account, when AWS told us. */
  accountId?: string;
  /** True only when AWS (API Gateway's IAM authorizer) established `arn`. */
  verified: boolean;
  /** Where the identity came from. */
  via: 'iam' | 'event' | 'invoke';
}

/** The parts of an API Gateway HTTP API (payload 2.0) event that we read. */
export interface HttpApiEvent {
  version: '2.0';
  routeKey?: string;
  rawPath?: string;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: {
    accountId?: string;
    requestId?: string;
    http?: { method?: string; path?: string };
    authorizer?: { iam?: { userArn?: string; accountId?: string; callerId?: string; accessKey?: string } };
  };
}

/** True for an API Gateway HTTP API payload-2.0 event. */
export function isHttpApiEvent(event: unknown): event is HttpApiEvent {
  if (!event || typeof event !== 'object') return false;
  const e = event as Record<string, unknown>;
  return e.version === '2.0' && !!e.requestContext && typeof e.requestContext === 'object';
}

/**
 * The verified caller of an HTTP API event, or undefined when the event carries no IAM identity (a route
 * without `AWS_IAM` authorization must never be trusted as a caller).
 */
export function verifiedCaller(event: HttpApiEvent): Caller | undefined {
  const iam = event.requestContext.authorizer?.iam;
  if (!iam || typeof iam.userArn !== 'string' || iam.userArn.length === 0) return undefined;
  return {
    arn: iam.userArn,
    ...(typeof iam.accountId === 'string' ? { accountId: iam.accountId } : {}),
    verified: true,
    via: 'iam',
  };
}

/** A caller we cannot vouch for: recorded as `claimed:<what it said>`. */
export function claimedCaller(claim: string, via: 'event' | 'invoke'): Caller {
  return { arn: `claimed:${claim}`, verified: false, via };
}

/** The JSON body of an HTTP API event (base64-decoded when API Gateway encoded it). Throws SyntaxError. */
export function httpApiBody(event: HttpApiEvent): unknown {
  if (event.body === undefined || event.body === '') return {};
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  return JSON.parse(text) as unknown;
}
