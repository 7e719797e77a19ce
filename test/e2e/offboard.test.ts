/**
 * Offboarding through the front door on the local stack (issue 11.4): the unsigned call refused by the
 * gateway, the CLI refusing without --yes when stdin is not a terminal (nothing sent), a dry run changing
 * nothing, and a signed offboard that marks the config, deletes the platform role (inline policy first) and
 * schedules the CloudFront key's deletion with a recovery window, recorded as the verified caller.
 *
 * The retired config is put in the location item's shape (docs/locations.md) directly, so the test needs no
 * onboarding run to reach it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateRoleCommand, GetRoleCommand, ListRolePoliciesCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { CreateSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { locationFor, locationSk, type LocationRecord } from '#shared/records/location-read';
import { runCli } from '../../cli/main';
import type { OffboardResult } from '../../cli/commands/offboard';
import { runtimePrivateKeyPem } from '../fixtures/private-key';
import { capture } from './helpers/capture';
import { newOrgId, startE2eStack, type E2eStack } from './helpers/stack';

let e: E2eStack;
beforeAll(async () => {
  e = await startE2eStack();
});
afterAll(async () => {
  await e?.stop();
});

const SUPPORT_ARN = 'arn:aws:iam::111111111111:user/local-support';
/** The key secret's value: made at run time, so no private key (not even a fake one) is committed. */
const PEM = runtimePrivateKeyPem();

/** A retired CloudFront config of backend prod, its platform role (with its inline policy) and its key secret. */
async function retiredBackend(orgId: string) {
  const roleName = `binary_backend_${orgId}_prod`;
  await e.platform.iam.send(
    new CreateRoleCommand({
      RoleName: roleName,
      AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:root' }, Action: 'sts:AssumeRole' }] }),
    }),
  );
  const customerRole = `arn:aws:iam::222222222222:role/Gone-${orgId.slice(0, 8)}`;
  await e.platform.iam.send(
    new PutRolePolicyCommand({
      RoleName: roleName,
      PolicyName: 'assume-customer-role',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: customerRole }] }),
    }),
  );
  const secret = await e.platform.secrets.send(new CreateSecretCommand({ Name: `${e.env.BINARY_BACKENDS_SECRET_PREFIX}${orgId}/prod-1`, SecretString: PEM }));
  const location = locationFor('prod', 1);
  const item: LocationRecord = {
    pk: `ORG#${orgId}`,
    sk: locationSk(location),
    orgId,
    location,
    roleName: 'prod',
    configVersion: 1,
    state: 'retired',
    executionName: `${orgId}-prod-1`,
    requestedBy: SUPPORT_ARN,
    platformRoleArn: `arn:aws:iam::111111111111:role/${roleName}`,
    upload: { bucket: `old-bucket-${orgId.slice(0, 8)}`, region: 'eu-west-1', roleArn: customerRole, accountId: '222222222222' },
    download: { type: 'cloudfront', host: 'd111111abcdef8.cloudfront.net', keyPairId: 'K2JCJMDEHXQW5F', hashAlgorithm: 'SHA256', privateKeySecretArn: secret.ARN! },
    activatedAt: '2026-11-01T00:00:00.000Z',
    retiredAt: '2026-11-20T00:00:00.000Z',
    retiredReason: 'deactivated',
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-20T00:00:00.000Z',
  };
  await e.platform.dynamo.send(new PutCommand({ TableName: e.env.BINARY_BACKENDS_TABLE, Item: item }));
  return { roleName, secretArn: secret.ARN!, key: { pk: item.pk, sk: item.sk } };
}

const item = async (key: { pk: string; sk: string }) =>
  (await e.platform.dynamo.send(new GetCommand({ TableName: e.env.BINARY_BACKENDS_TABLE, Key: key }))).Item as LocationRecord;
const offboardInvocations = () => e.stack.lambda.invocations.filter((i) => i.functionName.endsWith('-offboard')).length;

describe('Offboarding through the front door', () => {
  it('refuses an unsigned POST /offboardings with 403, like API Gateway, and runs nothing', async () => {
    const orgId = newOrgId();
    const { key } = await retiredBackend(orgId);
    const before = offboardInvocations();
    const url = `${e.env.BINARY_BACKENDS_API_URL}/offboardings`;
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ orgId, roleName: 'prod' }) });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ message: 'Forbidden' });
    expect(offboardInvocations()).toBe(before);
    expect((await item(key)).state).toBe('retired');
  });

  it('the CLI refuses without --yes when stdin is not a terminal, sending nothing', async () => {
    const orgId = newOrgId();
    const { key, roleName } = await retiredBackend(orgId);
    const before = offboardInvocations();
    const c = capture(e.env);
    expect(await runCli(['offboard', '--org', orgId, '--backend', 'prod'], c.io)).toBe(2);
    expect(c.stderr()).toMatch(/--yes: required when stdin is not a terminal/);
    expect(c.stderr()).toMatch(/Nothing was sent/);
    expect(offboardInvocations()).toBe(before);
    expect((await item(key)).state).toBe('retired');
    expect((await e.platform.iam.send(new GetRoleCommand({ RoleName: roleName }))).Role?.RoleName).toBe(roleName);
  });

  it('--dry-run lists what would be removed and changes nothing; --yes offboards it as the verified caller', async () => {
    const orgId = newOrgId();
    const { key, roleName, secretArn } = await retiredBackend(orgId);

    const dry = capture(e.env);
    expect(await runCli(['offboard', '--org', orgId, '--backend', 'prod', '--dry-run'], dry.io), dry.stderr()).toBe(0);
    expect(dry.stdout()).toMatch(/DRY RUN: nothing changed/);
    expect(dry.stdout()).toContain('b.prod.1');
    expect(dry.stdout()).toContain(`Platform role ${roleName}: would be DELETED`);
    expect(dry.stdout()).toContain(secretArn);
    expect(dry.stdout()).not.toContain('BEGIN PRIVATE KEY');
    expect((await item(key)).state).toBe('retired');
    expect((await e.platform.iam.send(new ListRolePoliciesCommand({ RoleName: roleName }))).PolicyNames).toEqual(['assume-customer-role']);
    expect((await e.platform.secrets.send(new DescribeSecretCommand({ SecretId: secretArn }))).DeletedDate).toBeUndefined();

    const c = capture(e.env);
    expect(await runCli(['offboard', '--org', orgId, '--backend', 'prod', '--config-version', '1', '--reason', 'bucket decommissioned', '--yes', '--json'], c.io), c.stderr()).toBe(0);
    const result = JSON.parse(c.stdout()) as OffboardResult;
    expect(result).toMatchObject({
      dryRun: false,
      offboarded: [{ location: 'b.prod.1', configVersion: 1 }],
      offboardedBy: SUPPORT_ARN,
      platformRole: { name: roleName, action: 'deleted' },
      keysScheduledForDeletion: [{ secretArn, outcome: 'scheduled' }],
    });
    expect(await item(key)).toMatchObject({ state: 'offboarded', offboardedBy: SUPPORT_ARN, offboardReason: 'bucket decommissioned', keyDeletionDate: expect.any(String) });
    await expect(e.platform.iam.send(new GetRoleCommand({ RoleName: roleName }))).rejects.toMatchObject({ name: 'NoSuchEntityException' });
    const described = await e.platform.secrets.send(new DescribeSecretCommand({ SecretId: secretArn }));
    // Scheduled, with the 30-day recovery window: still there, restorable.
    expect(described.DeletedDate).toBeInstanceOf(Date);
    expect(e.stack.events.filter((ev) => ev.detailType === 'Backend Offboarded' && (ev.detail as { orgId?: string }).orgId === orgId)).toHaveLength(1);

    // Twice: a no-op, reported as such.
    const again = capture(e.env);
    expect(await runCli(['offboard', '--org', orgId, '--backend', 'prod', '--config-version', '1', '--yes'], again.io), again.stderr()).toBe(0);
    expect(again.stdout()).toMatch(/Already offboarded \(unchanged\):\n {2}b\.prod\.1 {2}config 1/);
    expect(e.stack.events.filter((ev) => ev.detailType === 'Backend Offboarded' && (ev.detail as { orgId?: string }).orgId === orgId)).toHaveLength(1);
  });

  it('on a terminal, shows the plan and asks: anything but yes changes nothing, y offboards', async () => {
    const orgId = newOrgId();
    const { key } = await retiredBackend(orgId);
    const questions: string[] = [];
    const no = capture(e.env, { stdinIsTTY: true, ask: async (q) => {
        questions.push(q);
        return 'n';
      },
    });
    expect(await runCli(['offboard', '--org', orgId, '--backend', 'prod'], no.io)).toBe(1);
    expect(no.stdout()).toMatch(/DRY RUN[\s\S]*b\.prod\.1[\s\S]*Not offboarded: nothing changed/);
    expect(questions).toEqual([`Offboard every retired config of backend "prod" of org ${orgId} as shown above? [y/N] `]);
    expect((await item(key)).state).toBe('retired');

    const yes = capture(e.env, { stdinIsTTY: true, ask: async () => 'y' });
    expect(await runCli(['offboard', '--org', orgId, '--backend', 'prod'], yes.io), yes.stderr()).toBe(0);
    expect(yes.stdout()).toMatch(/Offboarded 1 config\(s\) of backend "prod"/);
    expect((await item(key)).state).toBe('offboarded');
  });

  it.each([
    [['offboard', '--backend', 'prod', '--yes'], '--org: required'],
    [['offboard', '--org', '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a', '--yes'], '--backend: required'],
    [['offboard', '--org', '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a', '--backend', 'much-too-long-name', '--yes'], '--backend: must be 1-10 characters'],
    [['offboard', '--org', '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a', '--backend', 'prod', '--config-version', '0', '--yes'], '--config-version: must be a whole number of at least 1'],
    [['offboard', '--org', '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a', '--backend', 'prod', '--reason', 'x'.repeat(501), '--yes'], '--reason: must be at most 500 characters'],
  ])('refuses bad flags with exit 2 before sending anything: %j', async (argv, message) => {
    const before = offboardInvocations();
    const c = capture(e.env);
    expect(await runCli(argv, c.io)).toBe(2);
    expect(c.stderr()).toContain(message);
    expect(offboardInvocations()).toBe(before);
  });

  it('answers a refusal with its remediation (the serving config cannot be offboarded)', async () => {
    const orgId = newOrgId();
    await retiredBackend(orgId);
    const c = capture(e.env);
    expect(await runCli(['offboard', '--org', orgId, '--backend', 'prod', '--config-version', '9', '--yes'], c.io)).toBe(2);
    expect(c.stderr()).toMatch(/ValidationError: configVersion: backend "prod" of org .* has no config 9 that ever served/);
  });
});
