/**
 * The input rules themselves, as plain functions with no dependency: each returns a problem sentence
 * naming the rule, or undefined when the value is fine. validation.ts wraps them in zod schemas for the
 * onboarding request; the signer uses them directly, because the classic zod build costs ~450 KB of its
 * 1 MB bundle budget whatever is used of it. Keep this module free of imports beyond errors.ts and
 * trust-schedule.ts (itself import-free).
 */
import { ValidationError } from './errors';
import { MAX_TRUST_DEADLINE_SECONDS } from './trust-schedule';

// ---------------------------------------------------------------------------------------------
// Single-field rules. Each returns a problem sentence, or undefined when the value is fine.
// ---------------------------------------------------------------------------------------------

const UUID_LOWER = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_ANY_CASE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Shown in messages: the value, shortened, and never anything that looks like key material. */
export function shown(value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value) ?? String(value);
  if (looksLikeKeyMaterial(value)) return '<key material, not shown>';
  const v = value.length > 64 ? `${value.slice(0, 61)}...` : value;
  return JSON.stringify(v);
}

export function orgIdProblem(v: string): string | undefined {
  if (UUID_LOWER.test(v)) return undefined;
  if (UUID_ANY_CASE.test(v)) return `must be a lowercase UUID; use ${JSON.stringify(v.toLowerCase())}`;
  return `must be the org's UUID in lowercase, like 3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a (got ${shown(v)})`;
}

export const ROLE_NAME_RE = /^[A-Za-z0-9+=,.@_-]{1,10}$/;
/**
 * Names that are also properties of every JavaScript object (`__proto__`, `toString`, ...) or `prototype`:
 * a backend named so would read or overwrite the map's prototype in `backends[roleName]`. Refused, ignoring
 * case, since backend names are unique ignoring case.
 */
const RESERVED_NAMES = new Set(
  [...Object.getOwnPropertyNames(Object.prototype), 'prototype', 'constructor', '__proto__'].map((n) => n.toLowerCase()),
);
export function isReservedName(v: string): boolean {
  return RESERVED_NAMES.has(v.toLowerCase());
}
export function roleNameProblem(v: string): string | undefined {
  if (v.length < 1 || v.length > 10) return `must be 1-10 characters (got ${v.length})`;
  if (!ROLE_NAME_RE.test(v)) return `may only use letters, digits and + = , . @ _ - (got ${shown(v)})`;
  if (isReservedName(v)) return `must not be a reserved name like __proto__, prototype or constructor (got ${shown(v)})`;
  return undefined;
}

const BUCKET_RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const BUCKET_RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/** S3 general-purpose bucket naming rules (aws-facts.md section 3). */
export function bucketProblem(v: string): string | undefined {
  if (v.length < 3 || v.length > 63) return `must be 3-63 characters (got ${v.length})`;
  if (!/^[a-z0-9.-]+$/.test(v)) return `may only use lowercase letters, digits, '.' and '-' (got ${shown(v)})`;
  if (!/^[a-z0-9]/.test(v) || !/[a-z0-9]$/.test(v)) return `must begin and end with a letter or digit (got ${shown(v)})`;
  if (v.includes('..')) return `must not contain two adjacent periods (got ${shown(v)})`;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(v)) return `must not look like an IP address (got ${shown(v)})`;
  const prefix = BUCKET_RESERVED_PREFIXES.find((p) => v.startsWith(p));
  if (prefix) return `must not start with the reserved prefix '${prefix}' (got ${shown(v)})`;
  const suffix = BUCKET_RESERVED_SUFFIXES.find((s) => v.endsWith(s));
  if (suffix) return `must not end with the reserved suffix '${suffix}' (got ${shown(v)})`;
  return undefined;
}

/**
 * Every AWS region, by partition: the one region table. Source: the AWS endpoint partitions data as shipped
 * in @aws-sdk/core 3.981.2 (`submodules/client/util-endpoints/lib/aws/partitions.js`, the SDK's copy of
 * AWS's partitions.json). Add a region here when AWS launches one; nothing else lists regions.
 */
export const REGIONS_BY_PARTITION: Readonly<Record<string, readonly string[]>> = {
  aws: [
    'af-south-1', 'ap-east-1', 'ap-east-2', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1',
    'ap-south-2', 'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5',
    'ap-southeast-6', 'ap-southeast-7', 'ca-central-1', 'ca-west-1', 'eu-central-1', 'eu-central-2', 'eu-north-1',
    'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'il-central-1', 'me-central-1', 'me-south-1',
    'me-west-1', 'mx-central-1', 'sa-east-1', 'sa-west-1', 'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
  ],
  'aws-cn': ['cn-north-1', 'cn-northwest-1'],
  'aws-eusc': ['eusc-de-east-1'],
  'aws-iso': ['us-iso-east-1', 'us-iso-west-1'],
  'aws-iso-b': ['us-isob-east-1', 'us-isob-west-1'],
  'aws-iso-e': ['eu-isoe-west-1'],
  'aws-iso-f': ['us-isof-east-1', 'us-isof-south-1'],
  'aws-us-gov': ['us-gov-east-1', 'us-gov-west-1'],
};
const PARTITION_OF_REGION: ReadonlyMap<string, string> = new Map(
  Object.entries(REGIONS_BY_PARTITION).flatMap(([partition, regions]) => regions.map((r) => [r, partition] as const)),
);
/** The partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`, ...), or undefined for an unknown region. */
export function partitionOfRegion(region: string): string | undefined {
  return PARTITION_OF_REGION.get(region);
}
const PARTITIONS_RE = Object.keys(REGIONS_BY_PARTITION).sort((a, b) => b.length - a.length).join('|');

export function regionProblem(v: string): string | undefined {
  if (PARTITION_OF_REGION.has(v)) return undefined;
  return `must be an AWS region code that exists, like eu-west-1 (got ${shown(v)})`;
}

export const ROLE_ARN_RE = new RegExp(`^arn:(${PARTITIONS_RE}):iam::(\\d{12}):role\\/(?:[\\x21-\\x7E]{1,510}\\/)?([\\w+=,.@-]{1,64})$`);
export function roleArnProblem(v: string): string | undefined {
  if (v.length > 2048) return 'must be at most 2048 characters';
  if (/[*?]/.test(v)) return `must name exactly one role, without wildcards (got ${shown(v)})`;
  if (/:assumed-role\//.test(v))
    return `must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), not an STS session ARN (got ${shown(v)})`;
  return ROLE_ARN_RE.test(v)
    ? undefined
    : `must be an IAM role ARN like arn:aws:iam::123456789012:role/PeridioBinaries (got ${shown(v)})`;
}

/** The partition of an IAM role ARN. Call only on a valid ARN. */
export function partitionOfRoleArn(roleArn: string): string {
  return ROLE_ARN_RE.exec(roleArn)?.[1] ?? 'aws';
}

/** The 12-digit account in an IAM role ARN. Call only on a valid ARN. */
export function accountOfRoleArn(roleArn: string): string {
  const m = ROLE_ARN_RE.exec(roleArn);
  if (!m) throw new ValidationError(`upload.roleArn: ${roleArnProblem(roleArn)}`, ['upload.roleArn']);
  return m[2]!;
}

const HOSTNAME_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const LOOPBACK_HOST_RE = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\]):\d{1,5}$/;

/** A loopback host:port: the local CloudFront edge. Plain http is allowed only for these. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOST_RE.test(host);
}

const IP_HOST_RE = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\])(:\d{1,5})?$/i;

export function cloudFrontHostProblem(v: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) return `must be a host name only, without a scheme (got ${shown(v)}); drop the "https://"`;
  if (v.includes('/')) return `must be a host name only, without a path (got ${shown(v)})`;
  // Loopback host:port is the local stack's edge; whether this stack accepts it is a StackRules question.
  if (isLoopbackHost(v)) return undefined;
  if (IP_HOST_RE.test(v)) return `must be a domain name like d1234567890.cloudfront.net, not an IP address (got ${shown(v)})`;
  if (v !== v.toLowerCase()) return `must be lowercase (got ${shown(v)})`;
  return HOSTNAME_RE.test(v)
    ? undefined
    : `must be a domain name like d1234567890.cloudfront.net or cdn.example.com (got ${shown(v)})`;
}

const KEY_PAIR_ID_RE = /^(K[A-Z0-9]{8,63}|APKA[A-Z0-9]{8,60})$/;
export function keyPairIdProblem(v: string): string | undefined {
  if (UUID_ANY_CASE.test(v))
    return (
      `looks like a CloudFront key group ID (a UUID). Send the public key ID instead: ` +
      `CloudFront console > Public keys, the ID like K2JCJMDEHXQW5F (got ${shown(v)})`
    );
  return KEY_PAIR_ID_RE.test(v)
    ? undefined
    : `must be a CloudFront public key ID like K2JCJMDEHXQW5F (got ${shown(v)})`;
}

export const SECRET_ARN_RE = new RegExp(
  `^arn:(${PARTITIONS_RE}):secretsmanager:([a-z0-9-]+):(\\d{12}):secret:([A-Za-z0-9/_+=.@-]{1,512})$`,
);
export function secretArnProblem(v: string): string | undefined {
  if (looksLikeKeyMaterial(v))
    return 'must be the ARN of a Secrets Manager secret holding the key, not the key itself';
  return SECRET_ARN_RE.test(v)
    ? undefined
    : `must be a Secrets Manager secret ARN like arn:aws:secretsmanager:us-east-1:123456789012:secret:name (got ${shown(v)})`;
}

/** A storage prefix inside the customer's bucket, like "peridio/". */
export function prefixProblem(v: string): string | undefined {
  if (Buffer.byteLength(v, 'utf8') > 512) return 'must be at most 512 bytes';
  if (v.startsWith('/')) return `must not start with '/' (got ${shown(v)})`;
  if (v.includes('//')) return `must not contain '//' (got ${shown(v)})`;
  if (v.split('/').some((s) => s === '..' || s === '.')) return `must not contain '.' or '..' segments (got ${shown(v)})`;
  if (hasControlCharacters(v)) return 'must not contain control characters';
  if (hasLoneSurrogate(v)) return 'must be valid Unicode (it has a lone surrogate, which S3 keys cannot hold)';
  return undefined;
}

/** A UTF-16 surrogate without its pair: not valid Unicode, so not encodable as UTF-8 (S3 keys are UTF-8). */
export function hasLoneSurrogate(v: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(v);
}

// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
export function hasControlCharacters(v: string): boolean {
  return CONTROL_RE.test(v);
}

/** PEM blocks, bare base64 DER of a private key, or the words PRIVATE KEY. */
export function looksLikeKeyMaterial(v: string): boolean {
  return /-----BEGIN [A-Z ]*-----/.test(v) || /PRIVATE KEY/.test(v) || /^MII[A-Za-z0-9+/]{100,}/.test(v.trim());
}

// ---------------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------------

/** CloudFront URL lifetime bounds: 60 s to 7 days. */
export const CLOUDFRONT_TTL = { min: 60, max: 604_800, default: 3600 } as const;
/**
 * How long the workflow waits for the customer's trust policy. Default 7 days. At most the longest wait
 * whose worst-case history (CheckTrust's schedule, 9 events a poll, a reserve for retries and the other
 * states) stays under Step Functions' 25,000 events: derived in trust-schedule.ts (96 days today).
 */
export const TRUST_DEADLINE = { min: 1, max: MAX_TRUST_DEADLINE_SECONDS, default: 604_800 } as const;
export const TRUST_DEADLINE_CAP_REASON =
  `at most ${MAX_TRUST_DEADLINE_SECONDS} (${MAX_TRUST_DEADLINE_SECONDS / 86_400} days): a longer trust wait could ` +
  "exceed Step Functions' 25,000-event execution history, which fails the execution";

/** Paths (like `download.privateKey`) at which any string holds key material. */
export function findKeyMaterial(value: unknown, path = ''): string[] {
  if (typeof value === 'string') return looksLikeKeyMaterial(value) ? [path || '(input)'] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => findKeyMaterial(v, `${path}[${i}]`));
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => findKeyMaterial(v, path ? `${path}.${k}` : k));
  return [];
}

/** The parts of a zod issue (classic or mini: both share zod's core issue shape) that messages need. */
export interface SchemaIssue {
  code: string;
  expected?: string;
  path: PropertyKey[];
  message: string;
  input?: unknown;
  keys?: string[];
}

/**
 * One ValidationError naming every field and rule: `upload.bucket: must ...; extra: is not a known field`.
 * `root` prefixes every field path.
 */
export function issuesToValidationError(issues: readonly SchemaIssue[], root = ''): ValidationError {
  const fields: string[] = [];
  const parts: string[] = [];
  for (const issue of issues) {
    const base = [root, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys ?? []) {
        const field = base ? `${base}.${key}` : key;
        fields.push(field);
        parts.push(`${field}: is not a known field`);
      }
      continue;
    }
    const field = base || '(input)';
    fields.push(field);
    // Needs the parse to run with { reportInput: true }: a missing field has no input, a wrong type has one.
    const message =
      issue.code === 'invalid_type'
        ? issue.input === undefined
          ? 'is required'
          : `expected ${issue.expected ?? 'another type'}, got ${typeOf(issue.input)}`
        : issue.message;
    parts.push(`${field}: ${message}`);
  }
  return new ValidationError(parts.join('; '), fields);
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

// ---------------------------------------------------------------------------------------------
// Rules that depend on the stack: its partition, its own account, its key-secret prefix, and whether it
// is the local stack (loopback CloudFront hosts). The same for the starter, RecordConfig and the CLI.
// ---------------------------------------------------------------------------------------------

/** What the stack the request is for knows about itself (config.ts `inputRulesFromEnv` builds it). */
export interface StackRules {
  /** The stack's partition: regions and ARNs of another partition can never work. */
  partition: string;
  /** The platform's own account: a "customer" role in it would be the platform trusting itself. */
  platformAccountId?: string;
  /** Key secrets must be this stage's: in this account, and named under this prefix. */
  keySecret?: { accountId: string; prefix: string };
  /** Loopback CloudFront hosts (the local stack's edge); a flag the local stack sets. */
  allowLoopbackHosts?: boolean;
}

/** The parts of a request the stack rules look at (an already schema-valid onboarding request). */
export interface StackCheckedRequest {
  upload: { region: string; roleArn: string };
  download?: { type: string; host?: string; privateKeySecretArn?: string };
}

/** Each broken stack rule as `field: problem`; empty when the request fits this stack. */
export function stackRuleProblems(request: StackCheckedRequest, stack: StackRules): { field: string; problem: string }[] {
  const problems: { field: string; problem: string }[] = [];
  const regionPartition = partitionOfRegion(request.upload.region);
  if (regionPartition && regionPartition !== stack.partition) {
    problems.push({
      field: 'upload.region',
      problem: `is in the ${regionPartition} partition, but this stack runs in ${stack.partition} (got ${shown(request.upload.region)})`,
    });
  }
  const roleArn = ROLE_ARN_RE.exec(request.upload.roleArn);
  if (roleArn && roleArn[1] !== stack.partition) {
    problems.push({ field: 'upload.roleArn', problem: `is in the ${roleArn[1]} partition, but this stack runs in ${stack.partition}` });
  }
  if (roleArn && stack.platformAccountId && roleArn[2] === stack.platformAccountId) {
    problems.push({
      field: 'upload.roleArn',
      problem: `must be a role in the customer's account, not in the platform's own account ${stack.platformAccountId}`,
    });
  }
  const host = request.download?.host;
  if (host !== undefined && isLoopbackHost(host) && !stack.allowLoopbackHosts) {
    problems.push({
      field: 'download.host',
      problem: `must be a domain name like d1234567890.cloudfront.net; a loopback host is only for the local stack (got ${shown(host)})`,
    });
  }
  const secretArn = request.download?.privateKeySecretArn;
  const secret = secretArn === undefined ? undefined : SECRET_ARN_RE.exec(secretArn);
  if (secret && stack.keySecret) {
    const [, partition, , account, name] = secret;
    if (partition !== stack.partition || account !== stack.keySecret.accountId || !name!.startsWith(stack.keySecret.prefix)) {
      problems.push({
        field: 'download.privateKeySecretArn',
        problem:
          `must be a secret of this stage: account ${stack.keySecret.accountId}, name starting ${JSON.stringify(stack.keySecret.prefix)} ` +
          `(got ${shown(secretArn)}); binary-backends onboard --private-key-file stores it there`,
      });
    }
  }
  return problems;
}

/** Throws one ValidationError naming every broken stack rule. */
export function assertStackRules(request: StackCheckedRequest, stack: StackRules, root = ''): void {
  const problems = stackRuleProblems(request, stack);
  if (problems.length === 0) return;
  const field = (f: string) => (root ? `${root}.${f}` : f);
  throw new ValidationError(
    problems.map((p) => `${field(p.field)}: ${p.problem}`).join('; '),
    problems.map((p) => field(p.field)),
  );
}
