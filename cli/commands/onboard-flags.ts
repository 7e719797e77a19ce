/**
 * `binary-backends onboard`'s flags: which are required together, whole-number parsing, and the
 * validation the functions apply (functions/public.ts), with each error naming the flag support typed
 * rather than the request field. Nothing here reads or writes anything.
 */
import { ValidationError, parseOnboardingRequest, partitionOfRegion, type OnboardingRequest, type StackRules } from '../../functions/public';
import { VARS, regionOf, type Env } from '../aws';
import { UsageError } from '../io';

export interface OnboardFlags {
  org?: string;
  roleName?: string;
  bucket?: string;
  region?: string;
  roleArn?: string;
  cloudfrontHost?: string;
  keyPairId?: string;
  privateKeyFile?: string;
  ttl?: string;
  hashAlgorithm?: string;
  follow?: boolean;
  json?: boolean;
}

/** Request field -> the flag support typed, for messages. */
const FLAG_OF_FIELD: Record<string, string> = {
  orgId: '--org',
  roleName: '--role-name',
  'upload.bucket': '--bucket',
  'upload.region': '--region',
  'upload.roleArn': '--role-arn',
  download: '--cloudfront-host',
  'download.host': '--cloudfront-host',
  'download.keyPairId': '--key-pair-id',
  'download.hashAlgorithm': '--hash-algorithm',
  'download.ttlSeconds': '--ttl',
  'download.privateKeySecretArn': '--private-key-file',
  'download.privateKeySecretVersionId': '--private-key-file',
};

/** Only for validating the rest of the request before the key is stored; never sent anywhere. */
const PLACEHOLDER_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:not-yet-stored';

/** Rewrites `upload.bucket: ...; orgId: ...` as `--bucket: ...; --org: ...`. */
export function messageWithFlags(err: ValidationError): string {
  let message = err.message;
  const fields = [...new Set(err.fields)].sort((a, b) => b.length - a.length);
  for (const field of fields) {
    const flag = FLAG_OF_FIELD[field] ?? field;
    message = message.split(`${field}: `).join(`${flag}: `);
  }
  return message;
}

function wholeSeconds(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim())) throw new UsageError(`${flag}: must be a whole number of seconds (got ${JSON.stringify(v)})`);
  return Number(v);
}

/**
 * The validated request, with the CloudFront key's secret still a placeholder. Throws UsageError naming
 * the flags; nothing has been read or written yet.
 */
export function requestFromFlags(f: OnboardFlags, env: Env = {}): OnboardingRequest {
  const required: [keyof OnboardFlags, string][] = [
    ['org', '--org'],
    ['roleName', '--role-name'],
    ['bucket', '--bucket'],
    ['region', '--region'],
    ['roleArn', '--role-arn'],
  ];
  const missing = required.filter(([k]) => f[k] === undefined).map(([, flag]) => flag);
  const cloudFront = [f.cloudfrontHost, f.keyPairId, f.privateKeyFile, f.ttl, f.hashAlgorithm].some((v) => v !== undefined);
  if (cloudFront) {
    if (f.cloudfrontHost === undefined) missing.push('--cloudfront-host');
    if (f.keyPairId === undefined) missing.push('--key-pair-id');
    if (f.privateKeyFile === undefined) missing.push('--private-key-file');
  }
  if (missing.length > 0) {
    throw new UsageError(
      `${missing.join(', ')}: required${cloudFront ? ' (CloudFront download needs --cloudfront-host, --key-pair-id and --private-key-file together)' : ''}`,
    );
  }
  const ttlSeconds = wholeSeconds('--ttl', f.ttl);
  const input = {
    orgId: f.org,
    roleName: f.roleName,
    upload: { bucket: f.bucket, region: f.region, roleArn: f.roleArn },
    download: cloudFront
      ? {
          type: 'cloudfront',
          host: f.cloudfrontHost,
          keyPairId: f.keyPairId,
          hashAlgorithm: f.hashAlgorithm ?? 'SHA1',
          privateKeySecretArn: PLACEHOLDER_SECRET_ARN,
          ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
        }
      : { type: 's3' },
  };
  try {
    return parseOnboardingRequest(input, cliStackRules(env));
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(messageWithFlags(err));
    throw err;
  }
}

/**
 * The stack rules the CLI can know before anything is written (the starter and RecordConfig check them
 * again): the partition of AWS_REGION, the platform account (PLATFORM_ACCOUNT_ID, else the state machine
 * ARN's), and the loopback flag the local stack writes into .local/aws.env. Key secrets are the CLI's own,
 * so their rule is left to the starter. Undefined without a known region.
 */
export function cliStackRules(env: Env): StackRules | undefined {
  const region = regionOf(env);
  const partition = region === undefined ? undefined : partitionOfRegion(region);
  if (!partition) return undefined;
  const fromArn = env[VARS.stateMachine]?.split(':')[4];
  const platformAccountId = env.PLATFORM_ACCOUNT_ID ?? (fromArn && /^\d{12}$/.test(fromArn) ? fromArn : undefined);
  return { partition, platformAccountId, allowLoopbackHosts: env[LOOPBACK_FLAG] === 'true' };
}

/** Set to "true" by the local stack (.local/aws.env): its CloudFront edge is a loopback host. */
export const LOOPBACK_FLAG = 'BINARY_BACKENDS_ALLOW_LOOPBACK_HOSTS';
