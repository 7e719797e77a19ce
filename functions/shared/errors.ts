/**
 * Every error the service raises on purpose, in one place.
 *
 * Step Functions matches Catch/Retry on the Lambda's `errorType`, which the Node runtime takes from
 * `error.name`. Minifiers rename classes, so every class sets `this.name` to a string literal, and the
 * ASL (`statemachine/onboarding.asl.json`) matches those literals. A contract test checks that every
 * custom `ErrorEquals` name exists here and that every class here is handled in the ASL.
 *
 * Lambda drops custom error properties on the way to Step Functions, and the Catch `Cause` differs
 * between AWS (JSON `{errorType, errorMessage, trace}`) and aws-local-stepfunctions (the plain message).
 * So nothing downstream relies on extra properties: the remediation for an error comes from
 * `REMEDIATIONS`, keyed by name.
 */

export interface ErrorOptions {
  cause?: unknown;
}

/** Base class: a named error with an optional cause. Never thrown itself. */
export abstract class BinaryBackendError extends Error {
  /** Whether the workflow retries this error (Retry) rather than catching it as a terminal outcome. */
  abstract readonly retryable: boolean;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

/** Input broke a rule. The message names the field and the rule. Nothing was written. */
export class ValidationError extends BinaryBackendError {
  readonly retryable = false;
  /** Field paths that failed, like `upload.bucket`. */
  readonly fields: string[];
  constructor(message: string, fields: string[] = [], options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'ValidationError';
    this.fields = fields;
  }
}

/**
 * A people-facing request (API Gateway HTTP API) reached a function without an identity AWS vouches for:
 * a route without `AWS_IAM` authorization. Refused; nothing was written.
 */
export class CallerNotVerifiedError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'CallerNotVerifiedError';
  }
}

// ---------------------------------------------------------------------------------------------
// Starting and recording an onboarding
// ---------------------------------------------------------------------------------------------

/** Another onboarding of this backend is running. The message names the running execution. */
export class OnboardingInProgressError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'OnboardingInProgressError';
  }
}

/** A role name that differs only in letter case from an existing backend of the org (IAM is case-insensitive). */
export class RoleNameConflictError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'RoleNameConflictError';
  }
}

/** This execution no longer owns the backend's pending config (a newer onboarding took over). */
export class StaleExecutionError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'StaleExecutionError';
  }
}

// ---------------------------------------------------------------------------------------------
// Platform role
// ---------------------------------------------------------------------------------------------

/** A role with the platform role's name exists but is not ours (its tags do not match). It is never replaced. */
export class PlatformRoleConflictError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'PlatformRoleConflictError';
  }
}

/** Our own function role cannot assume our platform role after the IAM propagation grace: a platform fault. */
export class PlatformRoleNotAssumableError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'PlatformRoleNotAssumableError';
  }
}

// ---------------------------------------------------------------------------------------------
// Customer trust
// ---------------------------------------------------------------------------------------------

/** The customer did not apply a working trust policy before the deadline. */
export class TrustPolicyTimeoutError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'TrustPolicyTimeoutError';
  }
}

/** The customer's role can be assumed without the external ID, or with a wrong one (confused deputy). */
export class ExternalIdNotEnforcedError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'ExternalIdNotEnforcedError';
  }
}

/** After activation the customer's role can no longer be assumed (signer). No URL is returned. */
export class CustomerTrustBrokenError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'CustomerTrustBrokenError';
  }
}

/**
 * STS answered AccessDenied for one hop of the chain. Callers translate it: CheckTrust reads a denied
 * customer hop as "not yet", the signer as CustomerTrustBrokenError. Reaching Step Functions untranslated
 * (the customer withdrew trust between CheckTrust and a verify step) it fails the onboarding.
 */
export class AssumeRoleDeniedError extends BinaryBackendError {
  readonly retryable = false;
  readonly hop: 'platform' | 'customer' | 'signer';
  constructor(message: string, hop: 'platform' | 'customer' | 'signer', options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'AssumeRoleDeniedError';
    this.hop = hop;
  }
}

/**
 * STS answered `RegionDisabledException` (HTTP 403, modelled in the STS API): STS is deactivated in the
 * region of the endpoint for the account asked to issue the credentials. Not a trust problem: polling
 * cannot fix it, an account administrator must activate STS in that region (IAM > Account settings).
 */
export class StsRegionDisabledError extends BinaryBackendError {
  readonly retryable = false;
  readonly hop: 'platform' | 'customer' | 'signer';
  constructor(message: string, hop: 'platform' | 'customer' | 'signer', options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'StsRegionDisabledError';
    this.hop = hop;
  }
}

/**
 * STS answered `InvalidClientTokenId` (HTTP 403, a common error, not in the STS model): the credentials
 * that signed the AssumeRole are not known to STS in that region (an opt-in region not enabled for the
 * account, or a global-endpoint session token used in an opt-in region). Not a trust problem.
 */
export class StsInvalidClientTokenError extends BinaryBackendError {
  readonly retryable = false;
  readonly hop: 'platform' | 'customer' | 'signer';
  constructor(message: string, hop: 'platform' | 'customer' | 'signer', options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'StsInvalidClientTokenError';
    this.hop = hop;
  }
}

// ---------------------------------------------------------------------------------------------
// Verification of the customer's storage
// ---------------------------------------------------------------------------------------------

/** HeadBucket says the bucket does not exist. */
export class BucketNotFoundError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'BucketNotFoundError';
  }
}

/** The bucket lives in another region than the one support entered. The message names the real region. */
export class BucketWrongRegionError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'BucketWrongRegionError';
  }
}

/** The bucket is not owned by the account in the role ARN (ExpectedBucketOwner answered 403). */
export class BucketOwnerMismatchError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'BucketOwnerMismatchError';
  }
}

/** The customer's role lacks an S3 permission the seed's policy grants (put, get, list, delete). */
export class StoragePermissionError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'StoragePermissionError';
  }
}

/**
 * S3 refused a canary read or write because the customer's role may not use the bucket's customer-managed
 * KMS key (SSE-KMS): S3 answers AccessDenied naming `kms:GenerateDataKey` (writes) or `kms:Decrypt` (reads).
 * The message names the KMS action and, when S3 gave it, the key.
 */
export class KmsPermissionError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'KmsPermissionError';
  }
}

/**
 * The bucket has S3 Object Lock and refused a canary write that S3 requires extra headers for (Content-MD5 or
 * an x-amz-checksum on PUTs to a bucket with default retention). Not a missing permission.
 */
export class BucketObjectLockError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'BucketObjectLockError';
  }
}

/** The canary could not be downloaded through the device URL, or its bytes differ. */
export class DownloadVerificationError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'DownloadVerificationError';
  }
}

/** CloudFront served the canary to an unsigned request: signed URLs are not enforced. */
export class CloudFrontSigningNotEnforcedError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'CloudFrontSigningNotEnforcedError';
  }
}

/**
 * CloudFront kept refusing the signed canary URL (403, e.g. "Unknown Key") for the whole propagation window
 * (about 20 minutes) that VerifyDownload allows a just-created distribution, key group or public key to
 * deploy. The message names CloudFront's last answer and what it means.
 */
export class CloudFrontPropagationTimeoutError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'CloudFrontPropagationTimeoutError';
  }
}

/** The CloudFront private key is missing, unreadable, or not an RSA 2048 / EC P-256 private key. */
export class CloudFrontKeyError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'CloudFrontKeyError';
  }
}

// ---------------------------------------------------------------------------------------------
// Activation and routing
// ---------------------------------------------------------------------------------------------

/** The conditional activation write failed: the pending config is not this execution's, or not verified. */
export class ActivationConflictError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'ActivationConflictError';
  }
}

/** A deactivation happened while this onboarding ran: it may no longer activate (the org stays on default storage). */
export class OnboardingFencedError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'OnboardingFencedError';
  }
}

/** The customer role ARN, or the bucket + prefix, is still connected to another org (serving, retired but not offboarded, or being onboarded). */
export class ClaimedByAnotherOrgError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'ClaimedByAnotherOrgError';
  }
}

/** A backend or org record the operation needs does not exist. */
export class BackendNotFoundError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'BackendNotFoundError';
  }
}

/**
 * A download (or multipart completion) named a storage location that was offboarded: its storage is
 * disconnected for good. The message says when, by whom and why. Never answered with another location.
 */
export class LocationOffboardedError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'LocationOffboardedError';
  }
}

/** Offboarding was asked for the config that serves the org now: deactivate or re-onboard first. */
export class ConfigStillServingError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'ConfigStillServingError';
  }
}

// ---------------------------------------------------------------------------------------------
// Approval before an active org's storage changes
// ---------------------------------------------------------------------------------------------

/** A second principal rejected the change (`binary-backends reject`). Sent by decideApproval with SendTaskFailure. */
export class ApprovalRejectedError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'ApprovalRejectedError';
  }
}

/**
 * Nobody approved or rejected before the approval wait's timeout. Step Functions itself raises
 * `States.Timeout` on the RequestApproval wait; the ASL's ExpireApproval state renames it to this.
 */
export class ApprovalExpiredError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'ApprovalExpiredError';
  }
}

/** The caller may not decide: not a verified (IAM-authenticated) caller, or the requester approving their own change. */
export class ApprovalNotAllowedError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'ApprovalNotAllowedError';
  }
}

/** The execution does not exist, has finished, or is not waiting for approval (or was already decided). */
export class ApprovalNotPendingError extends BinaryBackendError {
  readonly retryable = false;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'ApprovalNotPendingError';
  }
}

// ---------------------------------------------------------------------------------------------
// Transient
// ---------------------------------------------------------------------------------------------

/** Throttling, a 5xx, a lost optimistic-lock race, a network blip: safe to retry with backoff. */
export class TransientError extends BinaryBackendError {
  readonly retryable = true;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** Every custom error name, literally, for the ASL contract test and for callers that match names. */
export const ERROR_NAMES = [
  'ValidationError',
  'CallerNotVerifiedError',
  'OnboardingInProgressError',
  'RoleNameConflictError',
  'StaleExecutionError',
  'PlatformRoleConflictError',
  'PlatformRoleNotAssumableError',
  'TrustPolicyTimeoutError',
  'ExternalIdNotEnforcedError',
  'CustomerTrustBrokenError',
  'AssumeRoleDeniedError',
  'StsRegionDisabledError',
  'StsInvalidClientTokenError',
  'BucketNotFoundError',
  'BucketWrongRegionError',
  'BucketOwnerMismatchError',
  'StoragePermissionError',
  'KmsPermissionError',
  'BucketObjectLockError',
  'DownloadVerificationError',
  'CloudFrontSigningNotEnforcedError',
  'CloudFrontPropagationTimeoutError',
  'CloudFrontKeyError',
  'ActivationConflictError',
  'OnboardingFencedError',
  'ClaimedByAnotherOrgError',
  'BackendNotFoundError',
  'LocationOffboardedError',
  'ConfigStillServingError',
  'ApprovalRejectedError',
  'ApprovalExpiredError',
  'ApprovalNotAllowedError',
  'ApprovalNotPendingError',
  'TransientError',
] as const;
export type ErrorName = (typeof ERROR_NAMES)[number];

/** Errors the onboarding workflow never raises (signer-only, or CLI/deactivate-only), so the ASL need not handle them. */
export const NOT_RAISED_BY_WORKFLOW: readonly ErrorName[] = [
  'CustomerTrustBrokenError',
  'BackendNotFoundError',
  'LocationOffboardedError',
  'ConfigStillServingError',
  'CallerNotVerifiedError',
  'ApprovalNotAllowedError',
  'ApprovalNotPendingError',
];

/**
 * What a person should do about each error: shown by `binary-backends status/history`, stored on the
 * failed config by RecordFailure, and carried by the *Onboarding Failed* event.
 */
export const REMEDIATIONS: Record<ErrorName | 'Unknown', string> = {
  ValidationError: 'Correct the field named in the message and start the onboarding again.',
  LocationOffboardedError:
    'That storage location was offboarded (the message says when and by whom): its binaries are no longer reachable through Peridio. Upload the binary again (it goes to the current storage), or ask whoever offboarded it.',
  ConfigStillServingError:
    'The config still serves the org. Deactivate the org (binary-backends deactivate) or re-onboard the backend first, then offboard the retired config.',
  CallerNotVerifiedError:
    "The request reached the service without an IAM identity AWS verified. Call it through the stack's API (binary-backends onboard / deactivate sign the request with your AWS credentials); a route without AWS_IAM authorization is a deployment fault.",
  OnboardingInProgressError:
    'Wait for the running onboarding named in the message to finish (binary-backends status), or stop it, then retry.',
  RoleNameConflictError:
    'IAM role names ignore letter case. Reuse the existing backend name exactly, or choose a name that differs by more than case.',
  StaleExecutionError:
    'A newer onboarding of this backend took over. Follow that one instead (binary-backends status).',
  PlatformRoleConflictError:
    'A role with the platform role name exists but was not created by this service. Platform engineering must inspect it; it is never replaced automatically.',
  PlatformRoleNotAssumableError:
    'Platform fault: the service cannot assume its own platform role. Check the platform role trust policy (aws:PrincipalArn pattern) and the function role, then retry.',
  TrustPolicyTimeoutError:
    'The customer did not apply the trust policy in time. Send them the policy again (binary-backends trust-policy), confirm they applied it to the role ARN they gave, with sts:ExternalId equal to the org ID, then start a new onboarding.',
  ExternalIdNotEnforcedError:
    'The customer role trusts Peridio without checking the external ID. Ask the customer to add the Condition {"StringEquals": {"sts:ExternalId": "<org ID>"}} exactly as in the trust policy we sent, then start a new onboarding.',
  CustomerTrustBrokenError:
    "The customer's role no longer trusts Peridio's platform role. Ask the customer to restore the trust policy (binary-backends trust-policy), or deactivate the backend.",
  AssumeRoleDeniedError:
    "A role in the chain refused AssumeRole. If it is the customer's role, the customer removed or changed the trust policy after it was checked: ask them to re-apply it (binary-backends trust-policy) and start a new onboarding.",
  StsRegionDisabledError:
    'STS is deactivated in the region named in the message for the account asked to issue credentials (the owner of the role named there). An administrator of that account must activate STS for the region (IAM console > Account settings > Security Token Service (STS) > Endpoints), then start a new onboarding.',
  StsInvalidClientTokenError:
    'STS does not recognise the credentials that signed the AssumeRole in this region. Platform fault: enable the region for the platform account if it is an opt-in region, keep the STS clients on regional endpoints (or set the global endpoint session-token version to v2 with iam set-security-token-service-preferences), then retry.',
  BucketNotFoundError: 'Check the bucket name with the customer; the bucket does not exist or the name has a typo.',
  BucketWrongRegionError:
    'The bucket is in another region than the one given. Start the onboarding again with the region named in the message.',
  BucketOwnerMismatchError:
    'The bucket is not owned by the AWS account in the role ARN. Ask the customer for a role in the account that owns the bucket.',
  StoragePermissionError:
    "The customer's role lacks an S3 permission. Ask the customer to attach the bucket policy from the guide (s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket on the bucket and bucket/*).",
  KmsPermissionError:
    "The bucket encrypts objects with a customer-managed KMS key that the customer's role may not use. Ask the customer to allow the KMS action named in the message on that key, in the role's policy (and the key policy must allow IAM policies to grant it): kms:GenerateDataKey for uploads, kms:Decrypt for downloads and multipart uploads. Then start a new onboarding.",
  BucketObjectLockError:
    'The bucket has S3 Object Lock and refused the test upload for a reason a permission cannot fix (the message quotes S3). Peridio sends a checksum with every write; check the bucket\'s Object Lock configuration with the customer (a legal hold or a retention mode that forbids new objects), then start a new onboarding. Objects written to such a bucket cannot be deleted before their retention ends.',
  DownloadVerificationError:
    'Devices could not download the test object through the URL they would get. Check the CloudFront origin points at the bucket (and origin access), or the bucket policy, then retry.',
  CloudFrontSigningNotEnforcedError:
    'The CloudFront distribution serves objects without a signature. Ask the customer to restrict viewer access with a trusted key group containing the public key, then retry.',
  CloudFrontPropagationTimeoutError:
    'CloudFront refused the signed test URL for about 20 minutes; its last answer is in the message. "Unknown Key": the public key ID is not in a trusted key group of the distribution\'s default behaviour (send the public key ID, not the key group ID), or the distribution never finished deploying (its status must be Deployed). "Access denied": the private key does not match the public key with this ID, or the hash algorithm differs. Fix it, then start a new onboarding.',
  CloudFrontKeyError:
    'The CloudFront private key is missing or invalid. Send an RSA 2048 or EC P-256 private key in PEM form, and the public key ID (like K2JCJMDEHXQW5F), not the key group ID.',
  ActivationConflictError:
    'Another onboarding changed this backend while this one ran. Check binary-backends status; start a new onboarding if needed.',
  OnboardingFencedError:
    'The org was deactivated while this onboarding ran, so it did not activate and the org stays on default storage. If the org should use this backend after all, start a new onboarding.',
  ClaimedByAnotherOrgError:
    "The customer role ARN, or the bucket and prefix, is still connected to another Peridio org (it serves, is retired but not yet offboarded, or is being onboarded there). Ask the customer for a role of this org's own and a bucket or prefix no other org uses (prefixes may not contain one another); if they insist it is theirs, escalate to platform engineering.",
  BackendNotFoundError: 'No such backend for this org. Check the org ID and role name (binary-backends status).',
  ApprovalRejectedError:
    'A second person rejected this change of storage (the reason is in the message). Nothing changed: the serving config still serves. Resolve the concern, then start a new onboarding.',
  ApprovalExpiredError:
    'Nobody approved the change before the approval wait expired. Nothing changed: the serving config still serves. Start a new onboarding and ask a second person to run binary-backends approve <execution> in time.',
  ApprovalNotAllowedError:
    'Approval needs a second person: call through the authenticated API (binary-backends approve|reject with your own AWS credentials), as a principal other than the one who requested the onboarding.',
  ApprovalNotPendingError:
    'That execution is not waiting for approval (wrong name, already decided, or finished). Check binary-backends status --org <org> for the execution awaiting approval.',
  TransientError: 'A temporary AWS error persisted through all retries. Start the onboarding again; if it repeats, check AWS service health.',
  Unknown: 'An unexpected error. Read the execution history (binary-backends history) and escalate to platform engineering.',
};

/** The remediation for an error name, falling back to the generic one for names we did not raise. */
export function remediationFor(name: string): string {
  return (REMEDIATIONS as Record<string, string>)[name] ?? REMEDIATIONS.Unknown;
}

/** AWS error names that mean "try again later", across services (SDK v3 `err.name`). */
const TRANSIENT_AWS_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'RequestThrottled',
  'SlowDown',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'ServiceFailure',
  'InternalError',
  'InternalFailure',
  'InternalServerError',
  'InternalServerErrorException',
  'ConcurrentModification',
  'ConcurrentModificationException',
  'TransactionConflictException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
]);

/** The SDK v3 error name, or '' for non-errors. */
export function awsErrorName(err: unknown): string {
  return err instanceof Error ? err.name : '';
}

/** The HTTP status of an SDK v3 error, when the service answered. */
export function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** True for throttling, 5xx and network errors, which are worth retrying. */
export function isTransientAwsError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (TRANSIENT_AWS_NAMES.has(err.name)) return true;
  const code = (err as { code?: string }).code;
  if (code && TRANSIENT_AWS_NAMES.has(code)) return true;
  const status = httpStatus(err);
  return status !== undefined && status >= 500;
}

/**
 * Passes our own errors through, turns throttling/5xx/network errors into TransientError, and
 * rethrows anything else unchanged. Use as `catch (err) { throw asTransientOr(err) }`.
 */
export function asTransientOr(err: unknown, context = 'AWS call'): unknown {
  if (err instanceof BinaryBackendError) return err;
  if (isTransientAwsError(err)) {
    return new TransientError(`${context} failed transiently: ${awsErrorName(err)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return err;
}
