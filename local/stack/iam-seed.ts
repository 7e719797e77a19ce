/**
 * IAM seeding of the local stack: the three users (local-support, local-customer-admin, local-approver),
 * the permissions-boundary policy, the role the functions share and the default-storage signer role with
 * their inline policies, and the functions' session credentials. One reason to change: who exists in the
 * local accounts and what their roles allow.
 */
import { IamStore } from '../iam';
import { CUSTOMER_ACCOUNT_ID, KeyRegistry, PLATFORM_ACCOUNT_ID } from '../identity';
import { Sts } from '../sts';
import {
  APPROVER_KEY,
  BOUNDARY_POLICY_ARN,
  CUSTOMER_KEY,
  DEFAULT_BUCKET,
  FUNCTION_ROLE_NAME,
  PLATFORM_KEY,
  SIGNER_ROLE_NAME,
  STAGE,
} from './names';

export interface SeedOptions {
  clock: () => Date;
  /** IAM's eventual consistency, in ms (LocalStackOptions.iamPropagationMs). */
  propagationMs: number;
}

export function seedIdentities(o: SeedOptions) {
  const keys = new KeyRegistry(o.clock);
  const platformUser = keys.addUser(PLATFORM_ACCOUNT_ID, 'local-support', PLATFORM_KEY.id, PLATFORM_KEY.secret);
  const customerUser = keys.addUser(CUSTOMER_ACCOUNT_ID, 'local-customer-admin', CUSTOMER_KEY.id, CUSTOMER_KEY.secret);
  const approverUser = keys.addUser(PLATFORM_ACCOUNT_ID, 'local-approver', APPROVER_KEY.id, APPROVER_KEY.secret);

  const iam = new IamStore([PLATFORM_ACCOUNT_ID, CUSTOMER_ACCOUNT_ID], { clock: o.clock, propagationMs: o.propagationMs });
  iam.addUserArn(platformUser.principal.arn);
  iam.addUserArn(customerUser.principal.arn);
  iam.addUserArn(approverUser.principal.arn);
  iam.addManagedPolicy(BOUNDARY_POLICY_ARN);
  const functionRole = iam.createRole(PLATFORM_ACCOUNT_ID, {
    roleName: FUNCTION_ROLE_NAME,
    trust: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    }),
    description: 'Local stand-in for the Lambda execution role all functions share',
    tags: [{ Key: 'service', Value: 'binary-backends' }],
  });
  const signerRole = iam.createRole(PLATFORM_ACCOUNT_ID, {
    roleName: SIGNER_ROLE_NAME,
    trust: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: functionRole.arn }, Action: 'sts:AssumeRole' }],
    }),
    description: 'Signs default-storage URLs with credentials whose expiry is known',
    tags: [{ Key: 'service', Value: 'binary-backends' }],
  });
  iam.putRolePolicy(
    PLATFORM_ACCOUNT_ID,
    FUNCTION_ROLE_NAME,
    'assume-platform-and-signer-roles',
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'sts:AssumeRole',
          Resource: [`arn:aws:iam::${PLATFORM_ACCOUNT_ID}:role/binary_backend_*`, signerRole.arn],
        },
      ],
    }),
  );
  iam.putRolePolicy(
    PLATFORM_ACCOUNT_ID,
    SIGNER_ROLE_NAME,
    'default-storage',
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], Resource: `arn:aws:s3:::${DEFAULT_BUCKET}/*` }],
    }),
  );
  const sts = new Sts(iam, keys);
  const functionSession = sts.issueSession(functionRole, `binary-backends-${STAGE}`, 30 * 86_400);
  return { keys, iam, sts, platformUser, functionRole, signerRole, functionSession };
}

export type Identities = ReturnType<typeof seedIdentities>;
