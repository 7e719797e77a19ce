/**
 * Valid names only, through the stand-ins: the local IAM refuses a tag value IAM refuses (a comma), as IAM
 * does, and a backend name with a comma (valid in IAM role names) still onboards end to end, because its
 * tag value is encoded (identifiers.ts `roleNameTagValue`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateRoleCommand, ListRoleTagsCommand, PutRolePolicyCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { LocalStack } from '../../local/stack';
import { executionName, platformRoleName } from '#shared/identifiers';
import { failure, nextEvent, startTestStack, type EnvClients } from './local-stack-helpers';

let stack: LocalStack;
let c: EnvClients;

beforeAll(async () => {
  ({ stack, clients: c } = await startTestStack({ waitForTrustMs: 20 }));
});
afterAll(async () => {
  await stack?.stop();
});

const TRUST_ANYONE_IN_CUSTOMER = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: 'sts:AssumeRole' }] });

describe('Valid names through the stand-ins', () => {
  it('the local IAM refuses a comma in a tag value, as IAM does, and creates nothing', async () => {
    const refused = await failure(
      c.iam(c.customer).send(new CreateRoleCommand({ RoleName: 'CommaTag', AssumeRolePolicyDocument: TRUST_ANYONE_IN_CUSTOMER, Tags: [{ Key: 'team', Value: 'a,b' }] })),
    );
    expect(refused).toMatchObject({ name: 'ValidationError', status: 400 });
    expect(await failure(c.iam(c.customer).send(new ListRoleTagsCommand({ RoleName: 'CommaTag' })))).toMatchObject({ name: 'NoSuchEntityException' });
  });

  it('onboards a backend whose name has a comma: the platform role keeps the name, its tag carries the encoded one', async () => {
    const orgId = '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d';
    const roleName = 'eu,prod';
    const bucket = 'names-comma';
    await c.s3('eu-west-1', c.customer).send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    await c.iam(c.customer).send(new CreateRoleCommand({ RoleName: 'CommaBackend', AssumeRolePolicyDocument: TRUST_ANYONE_IN_CUSTOMER }));
    await c.iam(c.customer).send(
      new PutRolePolicyCommand({
        RoleName: 'CommaBackend',
        PolicyName: 'PeridioBinaries',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }] }),
      }),
    );
    const input = {
      orgId,
      roleName,
      configVersion: 1,
      requestedBy: 'test',
      upload: { bucket, region: 'eu-west-1', roleArn: 'arn:aws:iam::222222222222:role/CommaBackend' },
      download: { type: 's3' },
    };
    const started = await c.sfn().send(
      new StartExecutionCommand({ stateMachineArn: c.env.BINARY_BACKENDS_STATE_MACHINE_ARN, name: executionName(orgId, roleName, 1), input: JSON.stringify(input) }),
    );
    const ready = await nextEvent(stack, (e) => e.detailType === 'Trust Policy Ready' && (e.detail as { orgId: string }).orgId === orgId);
    await c.iam(c.customer).send(new UpdateAssumeRolePolicyCommand({ RoleName: 'CommaBackend', PolicyDocument: JSON.stringify((ready.detail as { trustPolicy: unknown }).trustPolicy) }));

    const done = await stack.waitForExecution(started.executionArn!);

    expect(done.status, done.cause).toBe('SUCCEEDED');
    const tags = await c.iam().send(new ListRoleTagsCommand({ RoleName: platformRoleName(orgId, roleName) }));
    expect(tags.Tags).toContainEqual({ Key: 'peridio:backend', Value: 'eu:prod' });
  });
});
