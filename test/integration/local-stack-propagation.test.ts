/**
 * Opt-in IAM eventual consistency (`iamPropagationMs`): a role created through the API is, for a while,
 * neither a valid principal ("Invalid principal in policy") nor assumable (AccessDenied). The stack's
 * clock is moved forward instead of sleeping.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateRoleCommand, UpdateAssumeRolePolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand } from '@aws-sdk/client-sts';
import type { LocalStack } from '../../local/stack';
import { failure, startTestStack, type EnvClients } from './local-stack-helpers';

let stack: LocalStack;
let c: EnvClients;
let offsetMs = 0;

beforeAll(async () => {
  ({ stack, clients: c } = await startTestStack({ iamPropagationMs: 60_000, clock: () => new Date(Date.now() + offsetMs) }));
});
afterAll(async () => {
  await stack?.stop();
});

const trust = (aws: string) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: aws }, Action: 'sts:AssumeRole' }] });

describe('IAM propagation (opt-in)', () => {
  it('refuses a new role as principal and for AssumeRole until it has propagated', async () => {
    await c.iam().send(new CreateRoleCommand({ RoleName: 'binary_backend_fresh', AssumeRolePolicyDocument: trust('arn:aws:iam::111111111111:user/local-support') }));
    await c.iam(c.customer).send(new CreateRoleCommand({ RoleName: 'CustomerFresh', AssumeRolePolicyDocument: trust('222222222222') }));
    const apply = () =>
      c.iam(c.customer).send(new UpdateAssumeRolePolicyCommand({ RoleName: 'CustomerFresh', PolicyDocument: trust('arn:aws:iam::111111111111:role/binary_backend_fresh') }));
    const assume = () => c.sts().send(new AssumeRoleCommand({ RoleArn: 'arn:aws:iam::111111111111:role/binary_backend_fresh', RoleSessionName: 'fresh' }));

    expect((await failure(apply())).message).toContain('Invalid principal in policy');
    expect((await failure(assume())).name).toBe('AccessDenied');
    offsetMs = 60_000;
    await apply();
    expect((await assume()).Credentials?.AccessKeyId).toMatch(/^ASIA/);
  });
});
