/**
 * Small, stateful fakes of the AWS services the workflow's steps call, for running the REAL state machine
 * with the REAL handlers and no network. DynamoDB is not faked: the harness uses dynalite in-process.
 *
 * The "world" is two accounts: the platform (111111111111) and a customer (222222222222) who owns a bucket,
 * a role, and optionally a CloudFront distribution. Tests change the world (the customer applies a trust
 * policy at some simulated time, removes a permission, disables signed URLs) and the fakes answer the way
 * AWS would, with the error names and HTTP statuses the SDK v3 produces.
 *
 * Every credential the fake STS issues looks real (ASIA… key IDs, 40-character secrets, long session
 * tokens) so the secret scan would notice one leaking into an execution's input, output or history.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { verifyCloudFrontUrl } from '#shared/url-signers';

export const PLATFORM_ACCOUNT = '111111111111';
export const CUSTOMER_ACCOUNT = '222222222222';
export const FUNCTION_ROLE_ARN = `arn:aws:iam::${PLATFORM_ACCOUNT}:role/binary-backends-local-functions`;
export const CUSTOMER_ROLE_ARN = `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PeridioBinaries`;

/** A simulated clock: handlers read it; the harness advances it by each WaitForTrust's seconds. */
export class SimClock {
  private ms: number;
  constructor(start: Date) {
    this.ms = start.getTime();
  }
  now = (): Date => new Date(this.ms);
  advanceSeconds(seconds: number): void {
    this.ms += Math.round(seconds * 1000);
  }
  set(at: Date): void {
    this.ms = at.getTime();
  }
}

/** An error shaped like an SDK v3 service exception. */
export function awsError(name: string, status: number, message = name, headers: Record<string, string> = {}): Error {
  return Object.assign(new Error(message), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    $response: { statusCode: status, headers },
  });
}

type Handler = (input: Record<string, unknown>) => unknown;
/** A client whose `send` dispatches on the command's class name. Cast it to the SDK client type. */
export function fakeClient<T>(handlers: Record<string, Handler>, onCall?: (command: string) => void): T {
  return {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const name = command.constructor.name.replace(/Command$/, '');
      onCall?.(name);
      const h = handlers[name];
      if (!h) throw new Error(`fake: ${name} is not implemented`);
      return h(command.input);
    },
    destroy: () => undefined,
    config: {},
    middlewareStack: { add: () => undefined },
  } as unknown as T;
}

/** How the customer's trust policy on their role treats Peridio's platform role. */
export type TrustMode =
  /** The seed's policy: principal = platform role, StringEquals sts:ExternalId = org ID. */
  | 'correct'
  /** Principal only, no ExternalId condition: any (or no) external ID works. */
  | 'no-external-id-condition'
  /** A condition that requires an external ID but accepts any value (e.g. StringLike "*"). */
  | 'accepts-any-external-id';

export interface Bucket {
  region: string;
  owner: string;
  objects: Map<string, Buffer>;
}

export interface Issued {
  roleArn: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface WorldOptions {
  orgId: string;
  clock: SimClock;
}

/** RSA-2048 generation is slow; one key pair serves every world in a process. */
let cachedKeyPair: { privateKey: KeyObject; publicKey: KeyObject } | undefined;

/** The customer's AWS and the platform's IAM/STS, as the steps see them. */
export class FakeCloud {
  readonly clock: SimClock;
  readonly orgId: string;

  // --- customer side -----------------------------------------------------------------------------------
  /** When the customer applies the trust policy (simulated time); undefined = never. */
  trustAppliedAt: Date | undefined = undefined;
  /** Alternatively: deny this many AssumeRole calls on the customer role (with the right ID) first. */
  denyCustomerAssumes = 0;
  trustMode: TrustMode = 'correct';
  /** S3 actions the customer's role policy lacks, like 's3:PutObject'. */
  deniedS3Actions = new Set<string>();
  buckets = new Map<string, Bucket>();
  /** Fail the next N calls of an S3 operation with SlowDown (503), e.g. {PutObject: 1}. */
  s3Throttles: Record<string, number> = {};
  /** Fail the next N AssumeRole calls with Throttling (400). */
  stsThrottles = 0;
  /** STS deactivated in the region for the customer's account: AssumeRole on the customer role answers RegionDisabledException (403). */
  customerStsRegionDisabled = false;
  /** EventBridge refuses every PutEvents of these detail types (InternalException, 500). */
  failingEventTypes = new Set<string>();

  // CloudFront distribution in front of the bucket
  readonly cloudFrontHost = 'd111abcdef8.cloudfront.net';
  cloudFrontOriginBucket = 'acme-firmware';
  cloudFrontEnforcesSigning = true;
  /** Signed CloudFront requests still to answer 403 "Unknown Key", as a key group that is still deploying does. */
  cloudFrontDeployingRequests = 0;
  readonly cloudFront: { keyPairId: string; privateKeyPem: string; publicKey: KeyObject };

  // --- platform side -----------------------------------------------------------------------------------
  readonly roles = new Map<string, { arn: string; roleId: string; tags: { Key?: string; Value?: string }[]; trust: string; boundary?: string; inline: Map<string, string> }>();
  readonly issued = new Map<string, Issued>();
  readonly events: { DetailType?: string; Detail?: string }[] = [];
  readonly secrets = new Map<string, string>();
  /** Every AWS operation called, in order: `S3.PutObject`, `STS.AssumeRole`, ... */
  readonly calls: string[] = [];
  customerAssumeAttempts = 0;

  constructor(opts: WorldOptions) {
    this.clock = opts.clock;
    this.orgId = opts.orgId;
    const { privateKey, publicKey } = (cachedKeyPair ??= generateKeyPairSync('rsa', { modulusLength: 2048 }));
    this.cloudFront = {
      keyPairId: 'K2JCJMDEHXQW5F',
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicKey: createPublicKey(publicKey.export({ type: 'spki', format: 'pem' })),
    };
    this.buckets.set('acme-firmware', { region: 'eu-west-1', owner: CUSTOMER_ACCOUNT, objects: new Map() });
  }

  /** Keys under the canary area of a bucket. */
  canaryObjects(bucket = 'acme-firmware'): string[] {
    return [...(this.buckets.get(bucket)?.objects.keys() ?? [])].filter((k) => k.includes('.peridio-verification/'));
  }

  private issue(roleArn: string): { AccessKeyId: string; SecretAccessKey: string; SessionToken: string; Expiration: Date } {
    const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(30).toString('base64');
    const sessionToken = `IQoJb3JpZ2luX2VjE${randomBytes(120).toString('base64')}`;
    const expiration = new Date(this.clock.now().getTime() + 3600_000);
    this.issued.set(accessKeyId, { roleArn, secretAccessKey, sessionToken, expiration });
    return { AccessKeyId: accessKeyId, SecretAccessKey: secretAccessKey, SessionToken: sessionToken, Expiration: expiration };
  }

  private callerOf(credentials?: { accessKeyId: string }): string {
    if (!credentials) return FUNCTION_ROLE_ARN;
    return this.issued.get(credentials.accessKeyId)?.roleArn ?? 'unknown';
  }

  private customerTrusts(caller: string, externalId: string | undefined): boolean {
    const platformRole = [...this.roles.values()].find((r) => r.arn === caller);
    if (!platformRole) return false;
    const now = this.clock.now();
    if (this.trustAppliedAt === undefined || now < this.trustAppliedAt) return false;
    if (this.trustMode === 'no-external-id-condition') return true;
    if (this.trustMode === 'accepts-any-external-id') return externalId !== undefined;
    return externalId === this.orgId;
  }

  // --- clients -----------------------------------------------------------------------------------------

  /** STS signing as the function role (no credentials) or as the holder of `credentials`. */
  sts<T>(credentials?: { accessKeyId: string }): T {
    return fakeClient<T>(
      {
        AssumeRole: (input) => {
          if (this.stsThrottles > 0) {
            this.stsThrottles -= 1;
            throw awsError('Throttling', 400, 'Rate exceeded');
          }
          const caller = this.callerOf(credentials);
          const roleArn = String(input.RoleArn);
          const externalId = input.ExternalId === undefined ? undefined : String(input.ExternalId);
          const denied = () =>
            awsError('AccessDenied', 403, `User: ${caller} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
          if (roleArn === CUSTOMER_ROLE_ARN) {
            if (this.customerStsRegionDisabled) throw awsError('RegionDisabledException', 403, 'STS is not activated in this region for account:222222222222.');
            if (externalId === this.orgId) this.customerAssumeAttempts += 1;
            if (externalId === this.orgId && this.denyCustomerAssumes > 0) {
              this.denyCustomerAssumes -= 1;
              throw denied();
            }
            if (!this.customerTrusts(caller, externalId)) throw denied();
            return { Credentials: this.issue(roleArn) };
          }
          const role = [...this.roles.values()].find((r) => r.arn === roleArn);
          if (!role || caller !== FUNCTION_ROLE_ARN) throw denied();
          return { Credentials: this.issue(roleArn) };
        },
        GetCallerIdentity: () => ({ Arn: this.callerOf(credentials), Account: PLATFORM_ACCOUNT }),
      },
      (op) => this.calls.push(`STS.${op}`),
    );
  }

  iam<T>(): T {
    const get = (name: string) => {
      const r = this.roles.get(name.toLowerCase());
      if (!r) throw awsError('NoSuchEntity', 404, `The role with name ${name} cannot be found.`);
      return r;
    };
    return fakeClient<T>(
      {
        CreateRole: (i) => {
          const name = String(i.RoleName);
          if (this.roles.has(name.toLowerCase())) throw awsError('EntityAlreadyExists', 409, `Role with name ${name} already exists.`);
          const role = {
            arn: `arn:aws:iam::${PLATFORM_ACCOUNT}:role${String(i.Path ?? '/')}${name}`,
            roleId: `AROA${randomBytes(8).toString('hex').toUpperCase()}`,
            tags: (i.Tags as { Key?: string; Value?: string }[]) ?? [],
            trust: String(i.AssumeRolePolicyDocument),
            boundary: i.PermissionsBoundary as string | undefined,
            inline: new Map<string, string>(),
          };
          this.roles.set(name.toLowerCase(), role);
          return { Role: { RoleName: name, Arn: role.arn, RoleId: role.roleId, Tags: role.tags } };
        },
        GetRole: (i) => {
          const r = get(String(i.RoleName));
          return {
            Role: {
              RoleName: String(i.RoleName),
              Arn: r.arn,
              RoleId: r.roleId,
              Tags: r.tags,
              AssumeRolePolicyDocument: encodeURIComponent(r.trust),
              PermissionsBoundary: r.boundary ? { PermissionsBoundaryArn: r.boundary, PermissionsBoundaryType: 'Policy' } : undefined,
            },
          };
        },
        ListRoleTags: (i) => ({ Tags: get(String(i.RoleName)).tags }),
        TagRole: (i) => {
          const r = get(String(i.RoleName));
          for (const t of i.Tags as { Key: string; Value: string }[]) {
            r.tags = [...r.tags.filter((e) => e.Key !== t.Key), t];
          }
          return {};
        },
        PutRolePolicy: (i) => {
          get(String(i.RoleName)).inline.set(String(i.PolicyName), String(i.PolicyDocument));
          return {};
        },
        GetRolePolicy: (i) => {
          const doc = get(String(i.RoleName)).inline.get(String(i.PolicyName));
          if (!doc) throw awsError('NoSuchEntity', 404, 'no such policy');
          return { RoleName: i.RoleName, PolicyName: i.PolicyName, PolicyDocument: encodeURIComponent(doc) };
        },
        DeleteRolePolicy: (i) => {
          get(String(i.RoleName)).inline.delete(String(i.PolicyName));
          return {};
        },
        UpdateAssumeRolePolicy: (i) => {
          get(String(i.RoleName)).trust = String(i.PolicyDocument);
          return {};
        },
        PutRolePermissionsBoundary: (i) => {
          get(String(i.RoleName)).boundary = String(i.PermissionsBoundary);
          return {};
        },
      },
      (op) => this.calls.push(`IAM.${op}`),
    );
  }

  eventBridge<T>(): T {
    return fakeClient<T>(
      {
        PutEvents: (i) => {
          const entries = i.Entries as { DetailType?: string; Detail?: string }[];
          if (entries.some((e) => this.failingEventTypes.has(String(e.DetailType)))) throw awsError('InternalException', 500, 'Internal error');
          for (const e of entries) this.events.push(e);
          return { FailedEntryCount: 0, Entries: (i.Entries as unknown[]).map(() => ({ EventId: randomBytes(8).toString('hex') })) };
        },
      },
      (op) => this.calls.push(`EventBridge.${op}`),
    );
  }

  secretsManager<T>(): T {
    return fakeClient<T>(
      {
        GetSecretValue: (i) => {
          const value = this.secrets.get(String(i.SecretId));
          if (value === undefined) throw awsError('ResourceNotFoundException', 400, 'Secrets Manager can\'t find the specified secret.');
          return { ARN: i.SecretId, SecretString: value, VersionId: 'v1' };
        },
      },
      (op) => this.calls.push(`SecretsManager.${op}`),
    );
  }

  /** An S3 client for `region`, signing as whoever holds `credentials`. */
  s3<T>(region: string, credentials: { accessKeyId: string }): T {
    const caller = this.callerOf(credentials);
    const uploads = new Map<string, { key: string; parts: Map<number, Buffer> }>();
    const bucketOf = (input: Record<string, unknown>, action: string) => {
      const name = String(input.Bucket);
      const b = this.buckets.get(name);
      if (!b) throw awsError(action === 's3:ListBucket#head' ? 'NotFound' : 'NoSuchBucket', 404, 'The specified bucket does not exist');
      if (b.region !== region) {
        // What S3 answers a client configured for the wrong region; the SDK names a HEAD's 301 "Unknown".
        throw awsError(action.endsWith('#head') ? 'Unknown' : 'PermanentRedirect', 301, 'UnknownError', { 'x-amz-bucket-region': b.region });
      }
      if (caller !== CUSTOMER_ROLE_ARN || b.owner !== CUSTOMER_ACCOUNT) throw awsError('AccessDenied', 403, 'Access Denied');
      if (input.ExpectedBucketOwner !== undefined && input.ExpectedBucketOwner !== b.owner) throw awsError('Forbidden', 403, 'Forbidden');
      if (this.deniedS3Actions.has(action.replace('#head', ''))) {
        throw awsError(action.endsWith('#head') ? 'Forbidden' : 'AccessDenied', 403, `User: ${caller} is not authorized to perform: ${action.replace('#head', '')}`);
      }
      return b;
    };
    const throttled = (op: string) => {
      if ((this.s3Throttles[op] ?? 0) > 0) {
        this.s3Throttles[op]! -= 1;
        throw awsError('SlowDown', 503, 'Please reduce your request rate.');
      }
    };
    const body = (b: unknown) => Buffer.from(b as Uint8Array);
    return fakeClient<T>(
      {
        HeadBucket: (i) => {
          throttled('HeadBucket');
          bucketOf(i, 's3:ListBucket#head');
          return { BucketRegion: region };
        },
        PutObject: (i) => {
          throttled('PutObject');
          bucketOf(i, 's3:PutObject').objects.set(String(i.Key), body(i.Body));
          return { ETag: `"${createHash('md5').update(body(i.Body)).digest('hex')}"` };
        },
        CreateMultipartUpload: (i) => {
          throttled('CreateMultipartUpload');
          bucketOf(i, 's3:PutObject');
          const id = randomBytes(12).toString('hex');
          uploads.set(id, { key: String(i.Key), parts: new Map() });
          return { UploadId: id, Key: i.Key, Bucket: i.Bucket };
        },
        UploadPart: (i) => {
          throttled('UploadPart');
          bucketOf(i, 's3:PutObject');
          const u = uploads.get(String(i.UploadId));
          if (!u) throw awsError('NoSuchUpload', 404, 'The specified upload does not exist');
          u.parts.set(Number(i.PartNumber), body(i.Body));
          return { ETag: `"part-${String(i.PartNumber)}"` };
        },
        CompleteMultipartUpload: (i) => {
          throttled('CompleteMultipartUpload');
          const b = bucketOf(i, 's3:PutObject');
          const u = uploads.get(String(i.UploadId));
          if (!u) throw awsError('NoSuchUpload', 404, 'The specified upload does not exist');
          const parts = (i.MultipartUpload as { Parts: { PartNumber: number }[] }).Parts;
          b.objects.set(u.key, Buffer.concat(parts.map((p) => u.parts.get(p.PartNumber)!)));
          uploads.delete(String(i.UploadId));
          return { Key: u.key };
        },
        AbortMultipartUpload: (i) => {
          bucketOf(i, 's3:AbortMultipartUpload');
          uploads.delete(String(i.UploadId));
          return {};
        },
        ListObjectsV2: (i) => {
          throttled('ListObjectsV2');
          const b = bucketOf(i, 's3:ListBucket');
          const prefix = String(i.Prefix ?? '');
          return { Contents: [...b.objects.keys()].filter((k) => k.startsWith(prefix)).sort().map((Key) => ({ Key })) };
        },
        DeleteObject: (i) => {
          throttled('DeleteObject');
          bucketOf(i, 's3:DeleteObject').objects.delete(String(i.Key));
          return {};
        },
      },
      (op) => this.calls.push(`S3.${op}`),
    );
  }

  /**
   * HTTP as a device sees it: S3 presigned URLs (virtual-hosted `<bucket>.s3.<region>.amazonaws.com`) and
   * the customer's CloudFront distribution, which checks signed URLs against the registered public key.
   */
  fetch = async (url: string): Promise<Response> => {
    this.calls.push(`HTTP.GET ${new URL(url).host}`);
    const u = new URL(url);
    const key = decodeURIComponent(u.pathname.slice(1));
    const s3Host = /^(.+)\.s3\.([a-z0-9-]+)\.amazonaws\.com$/.exec(u.hostname);
    if (s3Host) {
      const bucket = this.buckets.get(s3Host[1]!);
      const credential = u.searchParams.get('X-Amz-Credential') ?? '';
      const issued = this.issued.get(credential.split('/')[0] ?? '');
      if (!u.searchParams.get('X-Amz-Signature') || !issued || issued.expiration <= this.clock.now()) return new Response('AccessDenied', { status: 403 });
      if (issued.roleArn !== CUSTOMER_ROLE_ARN || this.deniedS3Actions.has('s3:GetObject')) return new Response('AccessDenied', { status: 403 });
      const obj = bucket?.objects.get(key);
      return obj ? new Response(new Uint8Array(obj), { status: 200 }) : new Response('NoSuchKey', { status: 404 });
    }
    if (u.host === this.cloudFrontHost) {
      if (u.searchParams.has('Key-Pair-Id') && this.cloudFrontDeployingRequests > 0) {
        this.cloudFrontDeployingRequests -= 1;
        return new Response('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidKey</Code><Message>Unknown Key</Message></Error>', { status: 403 });
      }
      if (this.cloudFrontEnforcesSigning) {
        if (!u.searchParams.has('Key-Pair-Id')) return new Response('Missing Key-Pair-Id query parameter or cookie value', { status: 403 });
        const check = verifyCloudFrontUrl(url, this.cloudFront.publicKey, this.cloudFront.keyPairId);
        if (!check.valid) return new Response(`Invalid signature: ${check.reason}`, { status: 403 });
        if ((check.expires ?? 0) * 1000 <= this.clock.now().getTime()) return new Response('Access denied: URL expired', { status: 403 });
      }
      const obj = this.buckets.get(this.cloudFrontOriginBucket)?.objects.get(key);
      return obj ? new Response(new Uint8Array(obj), { status: 200 }) : new Response('Not Found', { status: 404 });
    }
    throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ENOTFOUND' } });
  };
}
