/**
 * Who signed a request: the local stack's access-key registry. Static keys belong to IAM users of the
 * two accounts; temporary keys (ASIA…) belong to assumed-role sessions that the local STS issued, carry
 * a session token and expire. Every key is mirrored into @20minutes/s3rver's own registry, so S3
 * signatures (presigned URLs included) made with assumed-role credentials validate there too, and an
 * expired key is revoked there as well.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  AwsError,
  parseAmzDate,
  parseRawQuery,
  parseSigV4,
  readBody,
  sha256Hex,
  signatureMatches,
  splitUrl,
  type SigV4Parts,
  type VerifyInput,
} from './aws-protocol';

export const PLATFORM_ACCOUNT_ID = '111111111111';
export const CUSTOMER_ACCOUNT_ID = '222222222222';
export const REGION = 'us-east-1';

export interface Principal {
  accountId: string;
  /** What GetCallerIdentity answers: a user ARN or `arn:aws:sts::<acct>:assumed-role/<role>/<session>`. */
  arn: string;
  userId: string;
  /** The value of the `aws:PrincipalArn` condition key: the user's ARN, or the role's ARN for a session. */
  principalArn: string;
  kind: 'user' | 'assumed-role';
  /** Assumed-role sessions: the role (name as stored, path) and its unique id at the time of assumption. */
  role?: { name: string; path: string; roleId: string; arn: string };
  sessionName?: string;
}

export interface Credential {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiresAt?: Date;
  principal: Principal;
}

/** Called when a key is created or revoked (the S3 stand-in mirrors keys into s3rver). */
export interface KeyListener {
  added(c: Credential): void;
  revoked(accessKeyId: string): void;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function randomId(n: number): string {
  const bytes = randomBytes(n);
  return Array.from(bytes, (b) => ALNUM[b % ALNUM.length]).join('');
}

export function newAccessKeyId(temporary: boolean): string {
  return `${temporary ? 'ASIA' : 'AKIA'}${randomId(16)}`;
}

export function newSecret(): string {
  return randomBytes(30).toString('base64').replace(/[^A-Za-z0-9]/g, 'x').slice(0, 40);
}

export function newSessionToken(): string {
  return `IQoJb3JpZ2luX2VjEL${randomBytes(96).toString('base64')}`;
}

export function uniqueId(prefix: 'AROA' | 'AIDA' | 'ANPA'): string {
  return `${prefix}${randomId(17)}`;
}

export class KeyRegistry {
  private readonly keys = new Map<string, Credential>();
  private readonly listeners: KeyListener[] = [];

  constructor(private readonly clock: () => Date = () => new Date()) {}

  onChange(l: KeyListener): void {
    this.listeners.push(l);
    for (const c of this.keys.values()) l.added(c);
  }

  add(c: Credential): Credential {
    this.keys.set(c.accessKeyId, c);
    for (const l of this.listeners) l.added(c);
    return c;
  }

  revoke(accessKeyId: string): void {
    if (!this.keys.delete(accessKeyId)) return;
    for (const l of this.listeners) l.revoked(accessKeyId);
  }

  /** Drops every expired session (their keys also leave s3rver's registry). */
  sweep(): void {
    const now = this.clock().getTime();
    for (const c of [...this.keys.values()]) if (c.expiresAt && c.expiresAt.getTime() <= now) this.revoke(c.accessKeyId);
  }

  /** A user with static keys. */
  addUser(accountId: string, userName: string, accessKeyId: string, secretAccessKey: string): Credential {
    const arn = `arn:aws:iam::${accountId}:user/${userName}`;
    return this.add({
      accessKeyId,
      secretAccessKey,
      principal: { accountId, arn, principalArn: arn, userId: uniqueId('AIDA'), kind: 'user' },
    });
  }

  get(accessKeyId: string): Credential | undefined {
    return this.keys.get(accessKeyId);
  }

  /** The key, checked: unknown, expired (revoked on the way) or with a wrong session token → undefined/throws. */
  lookup(accessKeyId: string, sessionToken: string | undefined, errors: AuthErrorCodes): Credential {
    const c = this.keys.get(accessKeyId);
    if (!c) throw new AwsError(errors.unknownKey[0], errors.unknownKey[1], errors.unknownKey[2]);
    if (c.expiresAt && c.expiresAt.getTime() <= this.clock().getTime()) {
      this.revoke(accessKeyId);
      throw new AwsError(errors.expired[0], errors.expired[1], errors.expired[2]);
    }
    if (c.sessionToken !== undefined && c.sessionToken !== sessionToken) {
      throw new AwsError(errors.badToken[0], errors.badToken[1], errors.badToken[2]);
    }
    if (c.sessionToken === undefined && sessionToken) {
      throw new AwsError(errors.badToken[0], errors.badToken[1], errors.badToken[2]);
    }
    return c;
  }

  now(): Date {
    return this.clock();
  }
}

/** Per-protocol error codes for authentication failures: [code, message, status]. */
export interface AuthErrorCodes {
  missing: [string, string, number];
  unknownKey: [string, string, number];
  expired: [string, string, number];
  badToken: [string, string, number];
  badSignature: [string, string, number];
}

export const QUERY_AUTH_ERRORS: AuthErrorCodes = {
  missing: ['MissingAuthenticationToken', 'Request is missing Authentication Token', 403],
  unknownKey: ['InvalidClientTokenId', 'The security token included in the request is invalid.', 403],
  expired: ['ExpiredToken', 'The security token included in the request is expired', 403],
  badToken: ['InvalidClientTokenId', 'The security token included in the request is invalid.', 403],
  badSignature: [
    'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    403,
  ],
};

export const JSON_AUTH_ERRORS: AuthErrorCodes = {
  missing: ['MissingAuthenticationTokenException', 'Missing Authentication Token', 400],
  unknownKey: ['UnrecognizedClientException', 'The security token included in the request is invalid.', 400],
  expired: ['ExpiredTokenException', 'The security token included in the request is expired', 400],
  badToken: ['UnrecognizedClientException', 'The security token included in the request is invalid.', 400],
  badSignature: [
    'InvalidSignatureException',
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    400,
  ],
};

export const REST_JSON_AUTH_ERRORS: AuthErrorCodes = {
  ...JSON_AUTH_ERRORS,
  missing: ['MissingAuthenticationTokenException', 'Missing Authentication Token', 403],
  unknownKey: ['UnrecognizedClientException', 'The security token included in the request is invalid.', 403],
  expired: ['ExpiredTokenException', 'The security token included in the request is expired', 403],
  badToken: ['UnrecognizedClientException', 'The security token included in the request is invalid.', 403],
  badSignature: [JSON_AUTH_ERRORS.badSignature[0], JSON_AUTH_ERRORS.badSignature[1], 403],
};

export const S3_AUTH_ERRORS: AuthErrorCodes = {
  missing: ['AccessDenied', 'Access Denied', 403],
  unknownKey: ['InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', 403],
  expired: ['ExpiredToken', 'The provided token has expired.', 400],
  badToken: ['InvalidToken', 'The provided token is malformed or otherwise invalid.', 400],
  badSignature: [
    'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    403,
  ],
};

/**
 * Authenticates a request: SigV4 present, key known and live, session token right, signature right,
 * timestamp within 15 minutes (header auth) or not expired (presigned). Returns the credential and the
 * parsed signature parts (region, service).
 */
export function authenticate(
  keys: KeyRegistry,
  req: IncomingMessage,
  input: Omit<VerifyInput, 'headers' | 'method'>,
  errors: AuthErrorCodes,
): { credential: Credential; sig: SigV4Parts } {
  const sig = parseSigV4(req.headers, input.query);
  if (!sig) throw new AwsError(...errors.missing);
  const credential = keys.lookup(sig.accessKeyId, sig.sessionToken, errors);
  const now = keys.now().getTime();
  const t = parseAmzDate(sig.amzDate).getTime();
  if (Number.isNaN(t)) throw new AwsError('IncompleteSignature', 'X-Amz-Date is missing or malformed', 400);
  if (sig.mechanism === 'header' && Math.abs(now - t) > 15 * 60_000) {
    throw input.s3
      ? new AwsError('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', 403)
      : new AwsError(errors.badSignature[0], 'Signature expired: the request time is more than 15 minutes from the server time.', errors.badSignature[2]);
  }
  if (sig.mechanism === 'query') {
    const expires = sig.expiresSeconds ?? 0;
    if (!(expires >= 1 && expires <= 604_800)) {
      throw new AwsError('AuthorizationQueryParametersError', 'X-Amz-Expires must be between 1 and 604800 seconds', 400);
    }
    if (now > t + expires * 1000) throw new AwsError('AccessDenied', 'Request has expired', 403);
  }
  if (!signatureMatches({ ...input, method: req.method ?? 'GET', headers: req.headers }, sig, credential.secretAccessKey)) {
    throw new AwsError(...errors.badSignature);
  }
  return { credential, sig };
}

/**
 * A Query-protocol request (IAM, STS): read, authenticated with SigV4, and split into its `Action` and
 * parameters (the query string for GET, the form body for POST). Throws AwsError like the services do.
 */
export async function readQueryRequest(
  keys: KeyRegistry,
  req: IncomingMessage,
): Promise<{ credential: Credential; action: string; params: URLSearchParams }> {
  const body = await readBody(req);
  const { path, rawQuery } = splitUrl(req.url ?? '/');
  const query = parseRawQuery(rawQuery);
  const { credential } = authenticate(keys, req, { rawPath: path, query, bodySha256: sha256Hex(body), s3: false }, QUERY_AUTH_ERRORS);
  const params = new URLSearchParams(req.method === 'GET' ? rawQuery : body.toString('utf8'));
  return { credential, action: params.get('Action') ?? '', params };
}
