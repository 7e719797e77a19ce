/**
 * Customer buckets as they really are, through the stand-ins (local/s3.ts + s3-bucket-features.ts in front of
 * s3rver) with the opt-in S3 permission evaluation, running the REAL onboarding workflow:
 * - a versioned bucket: Cleanup deletes the canaries' versions, not only hides them behind delete markers, when
 *   the role may (s3:ListBucketVersions, s3:DeleteObjectVersion); with the guide's policy alone it leaves the
 *   versions behind delete markers, says so, and the onboarding still succeeds;
 * - Object Lock default retention: the canary writes carry a checksum, so they are accepted;
 * - SSE-KMS with a customer key the role may not use: KmsPermissionError naming the KMS action.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateRoleCommand, PutRolePolicyCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { LocalStack } from '../../local/stack';
import { failure, nextEvent, startTestStack, type EnvClients } from './local-stack-helpers';

let stack: LocalStack;
let c: EnvClients;

beforeAll(async () => {
  ({ stack, clients: c } = await startTestStack({ evaluateS3Permissions: true, waitForTrustMs: 20 }));
});
afterAll(async () => {
  await stack?.stop();
});

const GUIDE = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:ListBucket'];
const VERSIONS = ['s3:ListBucketVersions', 's3:DeleteObjectVersion'];
const KMS_KEY = 'arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const CANARIES = '.peridio-verification/';

async function customer(bucket: string, roleName: string, actions: string[]) {
  await c.s3('eu-west-1', c.customer).send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  await c.iam(c.customer).send(
    new CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: 'sts:AssumeRole' }] }),
    }),
  );
  await c.iam(c.customer).send(
    new PutRolePolicyCommand({
      RoleName: roleName,
      PolicyName: 'PeridioBinaries',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }] }),
    }),
  );
  return `arn:aws:iam::222222222222:role/${roleName}`;
}

async function onboard(orgId: string, bucket: string, roleArn: string, roleName: string) {
  const input = { orgId, roleName: 'prod', configVersion: 1, requestedBy: 'test', upload: { bucket, region: 'eu-west-1', roleArn }, download: { type: 's3' } };
  const started = await c.sfn().send(new StartExecutionCommand({ stateMachineArn: c.env.BINARY_BACKENDS_STATE_MACHINE_ARN, name: `${orgId}-prod-1`, input: JSON.stringify(input) }));
  const ready = await nextEvent(stack, (e) => e.detailType === 'Trust Policy Ready' && (e.detail as { orgId: string }).orgId === orgId);
  await c.iam(c.customer).send(new UpdateAssumeRolePolicyCommand({ RoleName: roleName, PolicyDocument: JSON.stringify((ready.detail as { trustPolicy: unknown }).trustPolicy) }));
  return stack.waitForExecution(started.executionArn!);
}

/** What the Cleanup state returned, from the execution history. */
function cleanupResult(history: { stateExitedEventDetails?: { name?: string; output?: string } }[]): { outcome: string; remaining: string[]; notes: string[] } {
  const exited = history.filter((e) => e.stateExitedEventDetails?.name === 'Cleanup').at(-1);
  return (JSON.parse(exited!.stateExitedEventDetails!.output!) as { cleanup: { outcome: string; remaining: string[]; notes: string[] } }).cleanup;
}

describe('Customer buckets through the stand-ins', () => {
  it('versioned bucket: Cleanup deletes the canary versions (and markers) when the role may', async () => {
    const bucket = 'cb-versioned-ok';
    const roleArn = await customer(bucket, 'VersionsOk', [...GUIDE, ...VERSIONS]);
    stack.s3.configureBucket(bucket, { versioning: true });

    const done = await onboard('0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9', bucket, roleArn, 'VersionsOk');

    expect(done.status, done.cause).toBe('SUCCEEDED');
    expect(cleanupResult(done.history as never)).toMatchObject({ outcome: 'cleaned', remaining: [] });
    expect(stack.s3.features.versionsOf(bucket, CANARIES)).toEqual([]);
  });

  it("versioned bucket, the guide's policy only: canaries hidden by delete markers, versions reported, onboarding still succeeds", async () => {
    const bucket = 'cb-versioned-guide';
    const roleArn = await customer(bucket, 'VersionsGuide', GUIDE);
    stack.s3.configureBucket(bucket, { versioning: true });

    const done = await onboard('1c2d3e4f-5061-4728-93a4-b5c6d7e8f90a', bucket, roleArn, 'VersionsGuide');

    expect(done.status, done.cause).toBe('SUCCEEDED');
    const result = cleanupResult(done.history as never);
    expect(result.outcome).toBe('incomplete');
    expect(result.remaining).toHaveLength(2);
    expect(result.notes.join(' ')).toContain('s3:DeleteObjectVersion');
    const left = stack.s3.features.versionsOf(bucket, CANARIES);
    expect(left.filter((v) => v.isDeleteMarker)).toHaveLength(2);
    expect(left.filter((v) => !v.isDeleteMarker)).toHaveLength(2);
  });

  it('Object Lock default retention: refuses a PUT without a checksum, naming Object Lock; the canary writes carry one and pass', async () => {
    const bucket = 'cb-object-lock';
    const roleArn = await customer(bucket, 'Locked', [...GUIDE, ...VERSIONS]);
    stack.s3.configureBucket(bucket, { objectLockRetentionDays: 1 });
    const refused = await failure(c.s3('eu-west-1', c.customer).send(new PutObjectCommand({ Bucket: bucket, Key: 'no-checksum.bin', Body: Buffer.from('x') })));
    expect(refused).toMatchObject({ name: 'InvalidRequest', status: 400 });
    expect(refused.message).toContain('Object Lock');

    const done = await onboard('2d3e4f50-6172-4839-a4b5-c6d7e8f90a1b', bucket, roleArn, 'Locked');

    expect(done.status, done.cause).toBe('SUCCEEDED');
    // Retention keeps the versions: Cleanup hides them behind delete markers and says what remains.
    const result = cleanupResult(done.history as never);
    expect(result.outcome).toBe('incomplete');
    expect(result.notes.join(' ')).toMatch(/Object Lock/);
  });

  it('SSE-KMS, the role may not use the key for writes: KmsPermissionError naming kms:GenerateDataKey', async () => {
    const bucket = 'cb-kms-write';
    const roleArn = await customer(bucket, 'KmsNoWrite', GUIDE);
    stack.s3.configureBucket(bucket, { sseKmsKeyArn: KMS_KEY });
    stack.s3.features.denyKms(bucket, ['kms:GenerateDataKey']);

    const done = await onboard('3e4f5061-7283-494a-b5c6-d7e8f90a1b2c', bucket, roleArn, 'KmsNoWrite');

    expect(done.status).toBe('FAILED');
    expect(done.error).toBe('KmsPermissionError');
    expect(done.cause).toContain('kms:GenerateDataKey');
    expect(done.cause).toContain(KMS_KEY);
  });

  it('SSE-KMS, the role may not decrypt: VerifyDownload fails with KmsPermissionError naming kms:Decrypt', async () => {
    const bucket = 'cb-kms-read';
    const roleArn = await customer(bucket, 'KmsNoRead', GUIDE);
    stack.s3.configureBucket(bucket, { sseKmsKeyArn: KMS_KEY });
    stack.s3.features.denyKms(bucket, ['kms:Decrypt']);

    const done = await onboard('4f506172-8394-4a5b-86c7-e8f90a1b2c3d', bucket, roleArn, 'KmsNoRead');

    expect(done.status).toBe('FAILED');
    expect(done.error).toBe('KmsPermissionError');
    expect(done.cause).toContain('kms:Decrypt');
  });
});
