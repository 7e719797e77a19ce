/**
 * VerifyDownload: fetch each canary over plain HTTP through the URL a device would get, and compare the
 * bytes with what VerifyUpload wrote.
 *
 * - S3 backend: a SigV4 presigned GET made with the customer's credentials (url-signers.ts `presignS3Url`,
 *   the same helper the signer uses).
 * - CloudFront backend: a canned-policy signed URL made with the config's key (cloudfront-keys.ts, read
 *   from Secrets Manager by ARN, never from the input). Then an UNSIGNED request for the same object must
 *   be refused with 403: that proves the distribution enforces signed URLs.
 *
 * On success it records the checks and sets the pending status VERIFIED (Activate requires it).
 *
 * CloudFront propagation: a distribution, key group or public key the customer just created takes minutes
 * to deploy to every edge, and meanwhile a signed URL gets 403 ("Unknown Key") and a just-restricted
 * behaviour may still serve unsigned requests. A Lambda cannot wait that long, so the step answers "not
 * yet" (`propagating: true` plus `waitSeconds`) and the workflow waits (WaitForCloudFront) and runs it again,
 * with backoff, for PROPAGATION_WINDOW_SECONDS (20 min) from the first attempt. Only then does it fail, with
 * CloudFrontPropagationTimeoutError naming CloudFront's last answer (or CloudFrontSigningNotEnforcedError).
 */
import type { KeyObject } from 'node:crypto';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CheckResult } from '#shared/records/model';
import type { StepInput } from '#shared/records/workflow-context';
import { CloudFrontKeyCache, sdkGetSecret } from '#shared/cloudfront-keys';
import {
  AssumeRoleDeniedError,
  BinaryBackendError,
  CloudFrontKeyError,
  CloudFrontPropagationTimeoutError,
  CloudFrontSigningNotEnforcedError,
  DownloadVerificationError,
  KmsPermissionError,
  StsInvalidClientTokenError,
  StsRegionDisabledError,
  TransientError,
  ValidationError,
  remediationFor,
} from '#shared/errors';
import { cloudFrontUrl, presignS3Url, unsignedCloudFrontUrl } from '#shared/url-signers';
import {
  customerChain,
  executionRef,
  kmsActionIn,
  kmsKeyIn,
  sha256Hex,
  type CanaryObject,
  type CheckRecorder,
  type CustomerStorageDeps,
} from '#shared/canary';

/** The subset of `fetch` the step uses; injected so tests answer without a network. */
export type HttpFetch = (url: string, init?: { method?: string; signal?: AbortSignal }) => Promise<Response>;

export interface VerifyDownloadDeps extends Omit<CustomerStorageDeps, 's3'> {
  records: CheckRecorder;
  fetch: HttpFetch;
  /** Reads the CloudFront key (a cloudfront-keys.ts CloudFrontKeyCache over a Secrets Manager client). */
  cloudFrontKey: (secretArn: string, versionId?: string) => Promise<KeyObject>;
  /** Per-request timeout. Default 15 s. */
  httpTimeoutMs?: number;
  /** How long CloudFront may keep answering as if still deploying, from the first attempt. Default 1200 s. */
  propagationWindowSeconds?: number;
}

export interface VerifyDownloadResult {
  via: 's3' | 'cloudfront';
  /** Keys whose bytes matched (empty while propagating). */
  verified: string[];
  /** CloudFront only: the status the unsigned request got (403 expected). */
  unsignedStatus?: number;
  /** True: CloudFront still answers as if deploying; the workflow waits `waitSeconds` and runs the step again. */
  propagating: boolean;
  /** While propagating: attempts so far, the first one's time, CloudFront's last answer and the next check. */
  attempt?: number;
  firstAttemptAt?: string;
  lastAnswer?: string;
  waitSeconds?: number;
  nextCheckAt?: string;
}

/** How long a just-created distribution, key group or public key is given to deploy (about 20 minutes). */
export const PROPAGATION_WINDOW_SECONDS = 1200;
/** First wait for CloudFront, doubled per attempt up to PROPAGATION_MAX_WAIT_SECONDS, never past the window. */
export const PROPAGATION_FIRST_WAIT_SECONDS = 30;
export const PROPAGATION_MAX_WAIT_SECONDS = 300;

/** Seconds until the next attempt: 30, 60, 120, 240, 300, ... capped by what is left of the window; at least 1. */
export function propagationWaitSeconds(attempt: number, secondsLeft: number): number {
  const backoff = PROPAGATION_FIRST_WAIT_SECONDS * 2 ** Math.min(Math.max(attempt - 1, 0), 20);
  return Math.max(1, Math.floor(Math.min(backoff, PROPAGATION_MAX_WAIT_SECONDS, Math.ceil(secondsLeft))));
}

/** How long the verification URLs live: long enough for a slow fetch, short enough to be useless later. */
export const VERIFY_URL_TTL_SECONDS = 300;

export const DOWNLOAD_CHECKS = ['download-signed', 'download-unsigned-refused'] as const;
type DownloadCheck = (typeof DOWNLOAD_CHECKS)[number];

class CheckFailure extends Error {
  constructor(
    readonly check: DownloadCheck,
    readonly error: BinaryBackendError,
    readonly fix: string,
  ) {
    super(error.message);
  }
}

/**
 * CloudFront answered the way a distribution that is still deploying does. `answer` is what it said;
 * `atDeadline` is the failure to report once the propagation window is over.
 */
class StillDeploying extends Error {
  constructor(
    readonly answer: string,
    readonly atDeadline: (attempts: number, minutes: number) => CheckFailure,
  ) {
    super(answer);
  }
}

/** Builds the Secrets-Manager-backed key loader for the handler, with its own key cache (one per container). */
export function cloudFrontKeyLoader(secrets: () => SecretsManagerClient) {
  const keys = new CloudFrontKeyCache({ getSecret: (input) => sdkGetSecret(secrets())(input) });
  return (arn: string, versionId?: string) => keys.get(arn, versionId);
}

/**
 * Downloads the canaries through device URLs and compares bytes; for CloudFront also checks that an
 * unsigned request is refused. Returns `propagating: true` and the next wait while CloudFront still answers
 * as if deploying (see the module comment). Throws DownloadVerificationError, CloudFrontPropagationTimeoutError,
 * CloudFrontSigningNotEnforcedError, CloudFrontKeyError, KmsPermissionError, AssumeRoleDeniedError,
 * StsRegionDisabledError, StsInvalidClientTokenError, ValidationError (no canaries in the input),
 * StaleExecutionError or TransientError.
 */
export async function verifyDownload(ctx: StepInput, deps: VerifyDownloadDeps): Promise<VerifyDownloadResult> {
  const canaries = canariesOf(ctx);
  const passed: CheckResult[] = [];
  const at = () => deps.clock().toISOString();
  const download = ctx.download;
  try {
    const urlFor = await urlMaker(ctx, deps);
    for (const canary of canaries) {
      await fetchAndCompare(deps, canary, urlFor(canary.key), download.type);
    }
    passed.push({
      name: 'download-signed',
      result: 'PASS',
      message: `Downloaded ${canaries.length} canaries through ${download.type === 'cloudfront' ? `signed CloudFront URLs (${download.host})` : 'S3 presigned URLs'}; bytes match.`,
      at: at(),
    });

    let unsignedStatus: number | undefined;
    if (download.type === 'cloudfront') {
      unsignedStatus = await checkUnsignedRefused(deps, download.host, canaries[0]!.key);
      passed.push({ name: 'download-unsigned-refused', result: 'PASS', message: `An unsigned request got ${unsignedStatus}: signed URLs are enforced.`, at: at() });
    } else {
      passed.push({
        name: 'download-unsigned-refused',
        result: 'SKIP',
        message: 'S3 backend: devices get SigV4 presigned URLs; there is no CloudFront distribution to check.',
        at: at(),
      });
    }
    await deps.records.recordChecks(executionRef(ctx), passed, deps.clock());
    await deps.records.setStatus(executionRef(ctx), 'VERIFIED', deps.clock());
    return {
      via: download.type,
      verified: canaries.map((c) => c.key),
      ...(unsignedStatus === undefined ? {} : { unsignedStatus }),
      propagating: false,
    };
  } catch (caught) {
    let err = caught;
    if (err instanceof StillDeploying) {
      const notYet = propagationVerdict(ctx, deps, err);
      if (!(notYet instanceof CheckFailure)) return notYet;
      err = notYet;
    }
    const failure = asCheckFailure(err);
    if (failure) {
      const now = at();
      const ran = new Set([...passed.map((c) => c.name), failure.check]);
      const checks: CheckResult[] = [
        ...passed,
        { name: failure.check, result: 'FAIL', message: `${failure.error.name}: ${failure.error.message}`, fix: failure.fix, at: now },
        ...DOWNLOAD_CHECKS.filter((c) => !ran.has(c)).map((name): CheckResult => ({ name, result: 'SKIP', message: `Not run: ${failure.check} failed first.`, at: now })),
      ];
      await deps.records.recordChecks(executionRef(ctx), checks, deps.clock()).catch(() => undefined);
      throw failure.error;
    }
    throw err;
  }
}

/**
 * CloudFront still answers as if deploying: within the window from the first attempt, "not yet" and the
 * next wait; after it, the failure that names CloudFront's last answer.
 */
function propagationVerdict(ctx: StepInput, deps: VerifyDownloadDeps, deploying: StillDeploying): VerifyDownloadResult | CheckFailure {
  const now = deps.clock();
  const previous = (ctx.verifyDownload ?? {}) as Partial<VerifyDownloadResult>;
  const earlier = previous.propagating === true && typeof previous.firstAttemptAt === 'string' ? previous : undefined;
  const attempt = (earlier?.attempt ?? 0) + 1;
  const firstAttemptAt = earlier?.firstAttemptAt ?? now.toISOString();
  const elapsedSeconds = Math.max(0, (now.getTime() - Date.parse(firstAttemptAt)) / 1000);
  const secondsLeft = (deps.propagationWindowSeconds ?? PROPAGATION_WINDOW_SECONDS) - elapsedSeconds;
  if (secondsLeft <= 0) return deploying.atDeadline(attempt, Math.round(elapsedSeconds / 60));
  const waitSeconds = propagationWaitSeconds(attempt, secondsLeft);
  return {
    via: 'cloudfront',
    verified: [],
    propagating: true,
    attempt,
    firstAttemptAt,
    lastAnswer: deploying.answer,
    waitSeconds,
    nextCheckAt: new Date(now.getTime() + waitSeconds * 1000).toISOString(),
  };
}

/** Terminal errors become a recorded FAIL; transient and stale ones go up unrecorded. */
function asCheckFailure(err: unknown): CheckFailure | undefined {
  if (err instanceof CheckFailure) return err;
  if (err instanceof CloudFrontKeyError) return new CheckFailure('download-signed', err, 'Store a valid RSA 2048 or EC P-256 private key and pass its secret ARN, then retry.');
  if (err instanceof AssumeRoleDeniedError) return new CheckFailure('download-signed', err, 'Ask the customer to re-apply the trust policy, then start a new onboarding.');
  if (err instanceof StsRegionDisabledError || err instanceof StsInvalidClientTokenError) return new CheckFailure('download-signed', err, remediationFor(err.name));
  return undefined;
}

function canariesOf(ctx: StepInput): CanaryObject[] {
  const v = (ctx as { verifyUpload?: { canaries?: unknown } }).verifyUpload;
  const list = Array.isArray(v?.canaries) ? (v.canaries as Partial<CanaryObject>[]) : [];
  const ok = list.filter(
    (c): c is CanaryObject => typeof c?.key === 'string' && typeof c.sha256 === 'string' && typeof c.bytes === 'number',
  );
  if (ok.length === 0 || ok.length !== list.length) {
    throw new ValidationError('verifyUpload.canaries: is required (VerifyUpload must run first and return the canaries it wrote)', ['verifyUpload.canaries']);
  }
  return ok;
}

/** The device URL for a key: S3 presigned GET or CloudFront signed URL. */
async function urlMaker(ctx: StepInput, deps: VerifyDownloadDeps): Promise<(key: string) => Promise<string> | string> {
  const download = ctx.download;
  const now = deps.clock();
  if (download.type === 'cloudfront') {
    const privateKey = await deps.cloudFrontKey(download.privateKeySecretArn, download.privateKeySecretVersionId);
    const expiresEpochSeconds = Math.floor(now.getTime() / 1000) + VERIFY_URL_TTL_SECONDS;
    return (key) =>
      cloudFrontUrl({
        host: download.host,
        objectPath: key,
        keyPairId: download.keyPairId,
        privateKey,
        hashAlgorithm: download.hashAlgorithm ?? 'SHA1',
        expiresEpochSeconds,
      });
  }
  const credentials = await deps.customerCredentials(customerChain(ctx, 'verify-download'));
  const { bucket, region } = ctx.upload;
  return (key) => presignS3Url({ credentials, region, bucket, key, method: 'GET', expiresInSeconds: VERIFY_URL_TTL_SECONDS, now });
}

const DOWNLOAD_FIX = {
  s3: 'The customer role needs s3:GetObject on arn:aws:s3:::<bucket>/* (the guide\'s bucket policy); for SSE-KMS also kms:Decrypt.',
  cloudfront:
    'Check that the distribution\'s origin is the bucket (with origin access allowed by the bucket policy), that the key group holds the public key of this key pair ID, and that the host is the distribution\'s.',
} as const;

/** A hint from CloudFront's 403 body (it names the signing problem). */
function cloudFrontHint(body: string): string {
  if (/Unknown Key/i.test(body)) return ' CloudFront says "Unknown Key": the key pair ID is not in a trusted key group of this distribution (send the public key ID, not the key group ID).';
  if (/Missing Key-Pair-Id/i.test(body)) return ' CloudFront says the Key-Pair-Id is missing.';
  if (/expired/i.test(body)) return ' CloudFront says the URL expired: check the clocks.';
  if (/Signature/i.test(body)) return ' CloudFront rejected the signature: the private key does not match the public key with this ID, or the hash algorithm differs.';
  return '';
}

async function get(deps: VerifyDownloadDeps, url: string, what: string, via: 's3' | 'cloudfront'): Promise<Response> {
  try {
    return await deps.fetch(url, { method: 'GET', signal: AbortSignal.timeout(deps.httpTimeoutMs ?? 15_000) });
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    // A host that does not resolve is a wrong host, not a blip; everything else (reset, timeout) is retried.
    if (code === 'ENOTFOUND') {
      throw new CheckFailure('download-signed', new DownloadVerificationError(`${what}: the host does not resolve (${code})`, { cause: err }), DOWNLOAD_FIX[via]);
    }
    throw new TransientError(`${what}: request failed (${code})`, { cause: err });
  }
}

async function fetchAndCompare(deps: VerifyDownloadDeps, canary: CanaryObject, url: string | Promise<string>, via: 's3' | 'cloudfront'): Promise<void> {
  const what = `GET ${canary.key} via ${via === 'cloudfront' ? 'a signed CloudFront URL' : 'an S3 presigned URL'}`;
  const res = await get(deps, await url, what, via);
  const body = new Uint8Array(await res.arrayBuffer());
  if (res.status >= 500 || res.status === 429) throw new TransientError(`${what}: HTTP ${res.status}`);
  if (res.status !== 200) {
    const text = Buffer.from(body.subarray(0, 2048)).toString('utf8');
    const hint = via === 'cloudfront' ? cloudFrontHint(text) : res.status === 403 ? ' S3 refused the presigned URL: the customer role lacks s3:GetObject.' : '';
    if (via === 'cloudfront' && res.status === 403 && !/Missing Key-Pair-Id/i.test(text)) {
      // What a distribution, key group or public key that is still deploying answers: retried (see the module comment).
      const answer = `HTTP 403 ${cloudFrontMessage(text)}`.trim();
      throw new StillDeploying(answer, (attempts, minutes) =>
        new CheckFailure(
          'download-signed',
          new CloudFrontPropagationTimeoutError(`${what}: CloudFront still answered ${answer} after ${attempts} attempts over ${minutes} min.${hint}`),
          DOWNLOAD_FIX.cloudfront,
        ),
      );
    }
    const kmsAction = via === 's3' && res.status === 403 ? kmsActionIn(text) : undefined;
    if (kmsAction) {
      const keyArn = kmsKeyIn(text);
      throw new CheckFailure(
        'download-signed',
        new KmsPermissionError(`${what}: HTTP 403: S3 could not decrypt the canary: the customer role needs ${kmsAction} on the bucket's key ${keyArn ?? '(named in the bucket\'s default encryption)'}`),
        `Allow ${kmsAction} on ${keyArn ?? 'the bucket\'s KMS key'} in the customer role's policy (and the key policy), then retry.`,
      );
    }
    throw new CheckFailure('download-signed', new DownloadVerificationError(`${what}: HTTP ${res.status}.${hint}`), DOWNLOAD_FIX[via]);
  }
  if (body.length !== canary.bytes || sha256Hex(body) !== canary.sha256) {
    throw new CheckFailure(
      'download-signed',
      new DownloadVerificationError(`${what}: got ${body.length} bytes that differ from the ${canary.bytes} bytes uploaded (is the origin another bucket or prefix?)`),
      DOWNLOAD_FIX[via],
    );
  }
}

/** An unsigned request must get 403; anything served means CloudFront does not require signed URLs. */
async function checkUnsignedRefused(deps: VerifyDownloadDeps, host: string, key: string): Promise<number> {
  const res = await get(deps, unsignedCloudFrontUrl(host, key), `unsigned GET ${key} via CloudFront`, 'cloudfront');
  await res.arrayBuffer().catch(() => undefined);
  if (res.status === 403) return res.status;
  if (res.status >= 500 || res.status === 429) throw new TransientError(`unsigned GET ${key} via CloudFront: HTTP ${res.status}`);
  // A behaviour just switched to restricted viewer access serves unsigned requests until it has deployed.
  throw new StillDeploying(`HTTP ${res.status} to an unsigned request`, (attempts, minutes) =>
    new CheckFailure(
      'download-unsigned-refused',
      new CloudFrontSigningNotEnforcedError(
        `CloudFront ${host} answered an unsigned request for ${key} with HTTP ${res.status} instead of 403 ` +
          `(${attempts} attempts over ${minutes} min): the distribution does not require signed URLs`,
      ),
      'Restrict viewer access on the distribution\'s behaviour to a trusted key group containing the public key, then retry.',
    ),
  );
}

/** CloudFront's error `<Message>` (or the start of a plain body), for the record. */
function cloudFrontMessage(body: string): string {
  const m = /<Message>([^<]{1,200})<\/Message>/.exec(body)?.[1] ?? body.slice(0, 120);
  return m ? `"${m.trim()}"` : '';
}
