/**
 * The local stage's fixed names, ports and local-only credentials: what every part of the local stack
 * (local/stack.ts and local/stack/*.ts) agrees on.
 */
import { PLATFORM_ACCOUNT_ID } from '../identity';

export const SERVICES = ['dynamodb', 's3', 'iam', 'sts', 'secretsmanager', 'eventbridge', 'lambda', 'sfn', 'cloudfront', 'apigateway'] as const;
export type Service = (typeof SERVICES)[number];

/** Default ports (`binary-backends local`). Tests pass `ports: 'random'`. */
export const DEFAULT_PORTS: Record<Service, number> = {
  dynamodb: 4701,
  s3: 4702,
  iam: 4703,
  sts: 4704,
  secretsmanager: 4705,
  eventbridge: 4706,
  lambda: 4707,
  sfn: 4708,
  cloudfront: 4709,
  apigateway: 4710,
};

export const STAGE = 'local';
export const TABLE_NAME = `binary-backends-${STAGE}`;
export const EVENT_BUS_NAME = `binary-backends-${STAGE}`;
export const DEFAULT_BUCKET = `peridio-binaries-${STAGE}`;
export const SECRET_PREFIX = `binary-backends/${STAGE}/`;
export const FUNCTION_ROLE_NAME = `binary-backends-${STAGE}-functions`;
export const SIGNER_ROLE_NAME = `binary-backends-${STAGE}-default-storage-signer`;
export const BOUNDARY_POLICY_ARN = `arn:aws:iam::${PLATFORM_ACCOUNT_ID}:policy/binary-backends-${STAGE}-platform-role-boundary`;
export const STATE_MACHINE_NAME = `binary-backends-${STAGE}-onboarding`;

/** Fixed local credentials (not secrets: they only open this local stack). */
export const PLATFORM_KEY = { id: 'AKIALOCALPLATFORM001', secret: 'local-platform-secret-key-not-a-secret-0001' };
export const CUSTOMER_KEY = { id: 'AKIALOCALCUSTOMER001', secret: 'local-customer-secret-key-not-a-secret-0001' };
/** A second person in the platform account, who may approve what local-support requested. */
export const APPROVER_KEY = { id: 'AKIALOCALAPPROVER001', secret: 'local-approver-secret-key-not-a-secret-0001' };
