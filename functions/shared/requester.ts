/**
 * Who asked, for the people-facing functions (starter, deactivate; later approvals), from any of the three
 * ways they are reached:
 * - API Gateway HTTP API with `AWS_IAM` (payload 2.0): the requester is the caller API Gateway verified
 *   (caller.ts). A body that names its own `requestedBy` is refused: the requester is never what a body says.
 * - an EventBridge event (*Onboarding Requested*): nobody vouches for who put it (the bus policy limits who
 *   may, but not what they write), so `detail.requestedBy` (or the event's source) is recorded as
 *   `claimed:<...>`.
 * - a direct Lambda invoke: the same, `claimed:<requestedBy or "direct-invoke">`.
 * A recorded `requestedBy` starting with `claimed:` is therefore not verified; any other value is an IAM ARN
 * AWS established.
 */
import { claimedCaller, httpApiBody, isHttpApiEvent, verifiedCaller, type Caller } from './caller';
import { CallerNotVerifiedError, ValidationError } from './errors';

export interface RequestWithCaller {
  /** The request without any `requestedBy` of its own. */
  body: Record<string, unknown>;
  caller: Caller;
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`${what}: must be a JSON object`, [what]);
  }
  return value as Record<string, unknown>;
}

function claim(value: unknown, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string') throw new ValidationError(`requestedBy: must be a string (got ${typeof value})`, ['requestedBy']);
  return value.trim() === '' ? fallback : value;
}

/**
 * The request and its caller. Throws CallerNotVerifiedError for an API request without an IAM identity, and
 * ValidationError for a body that is not a JSON object or that names its own requester on the API.
 */
export function requestWithCaller(event: unknown): RequestWithCaller {
  if (isHttpApiEvent(event)) {
    const caller = verifiedCaller(event);
    if (!caller) {
      throw new CallerNotVerifiedError(
        `Route ${event.routeKey ?? '(unknown)'} carried no IAM identity; only AWS_IAM-authorized routes may reach this function`,
      );
    }
    let parsed: unknown;
    try {
      parsed = httpApiBody(event);
    } catch {
      throw new ValidationError('body: must be JSON', ['body']);
    }
    const body = asObject(parsed, 'body');
    if ('requestedBy' in body) {
      throw new ValidationError(
        'requestedBy: not accepted in the request body; the requester is the IAM identity that signed the request',
        ['requestedBy'],
      );
    }
    return { body, caller };
  }
  const e = event as Record<string, unknown> | null;
  if (e && typeof e === 'object' && 'detail-type' in e && 'detail' in e) {
    const { requestedBy, ...body } = asObject(e.detail, 'detail');
    const source = typeof e.source === 'string' ? e.source : 'unknown';
    return { body, caller: claimedCaller(claim(requestedBy, `eventbridge:${source}`), 'event') };
  }
  const { requestedBy, ...body } = asObject(event, 'request');
  return { body, caller: claimedCaller(claim(requestedBy, 'direct-invoke'), 'invoke') };
}
