import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { AssumeRoleCommand, RegionDisabledException, STSClient, STSServiceException } from '@aws-sdk/client-sts';
import { CredentialBroker } from '#shared/credential-broker';
import { AssumeRoleDeniedError, StsInvalidClientTokenError, StsRegionDisabledError, TransientError } from '#shared/errors';

const stsMock = mockClient(STSClient);
afterAll(() => stsMock.restore());
const PLATFORM = 'arn:aws:iam::111111111111:role/binary_backend_org_prod';
const CUSTOMER = 'arn:aws:iam::222222222222:role/PeridioBinaries';

function deniedError(): STSServiceException {
  return new STSServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'not authorized' });
}

function issued(now: Date, seconds: number, id: string) {
  return { Credentials: { AccessKeyId: id, SecretAccessKey: 'secret', SessionToken: 'token', Expiration: new Date(now.getTime() + seconds * 1000) } };
}

describe('Class: CredentialBroker', () => {
  let now: Date;
  let broker: CredentialBroker;

  beforeEach(() => {
    stsMock.reset();
    now = new Date('2026-11-30T00:00:00Z');
    broker = new CredentialBroker({ sts: () => new STSClient({ region: 'us-east-1' }), stsWith: (c) => new STSClient({ region: 'us-east-1', credentials: c }), clock: () => now, refreshThresholdSeconds: 900 });
  });

  it('assumes the platform role, then the customer role with the org ID as external ID', async () => {
    // Prepare
    stsMock.on(AssumeRoleCommand, { RoleArn: PLATFORM }).resolves(issued(now, 3600, 'ASIAPLATFORM'));
    stsMock.on(AssumeRoleCommand, { RoleArn: CUSTOMER }).resolves(issued(now, 3600, 'ASIACUSTOMER'));

    // Act
    const creds = await broker.customerCredentials({ platformRoleArn: PLATFORM, customerRoleArn: CUSTOMER, externalId: 'org', sessionName: 'bb-test' });

    // Assess
    expect(creds.accessKeyId).toBe('ASIACUSTOMER');
    expect(stsMock).toHaveReceivedCommandWith(AssumeRoleCommand, { RoleArn: CUSTOMER, ExternalId: 'org', DurationSeconds: 3600 });
    expect(stsMock).toHaveReceivedCommandWith(AssumeRoleCommand, { RoleArn: PLATFORM, DurationSeconds: 3600 });
  });

  it('makes no second AssumeRole while the credentials have more than the threshold left', async () => {
    stsMock.on(AssumeRoleCommand).callsFake(() => issued(now, 3600, 'ASIA1'));
    const chain = { platformRoleArn: PLATFORM, customerRoleArn: CUSTOMER, externalId: 'org', sessionName: 'bb-test' };
    await broker.customerCredentials(chain);
    now = new Date(now.getTime() + 2600 * 1000); // 1000 s left: above the 900 s threshold
    await broker.customerCredentials(chain);
    expect(stsMock).toHaveReceivedCommandTimes(AssumeRoleCommand, 2);
  });

  it('refreshes both hops when less than the threshold is left', async () => {
    stsMock.on(AssumeRoleCommand).callsFake(() => issued(now, 3600, 'ASIA1'));
    const chain = { platformRoleArn: PLATFORM, customerRoleArn: CUSTOMER, externalId: 'org', sessionName: 'bb-test' };
    await broker.customerCredentials(chain);
    now = new Date(now.getTime() + 2800 * 1000); // 800 s left
    const fresh = await broker.customerCredentials(chain);
    expect(stsMock).toHaveReceivedCommandTimes(AssumeRoleCommand, 4);
    expect(broker.secondsLeft(fresh)).toBe(3600);
  });

  it('shares one in-flight AssumeRole between a burst of concurrent callers', async () => {
    stsMock.on(AssumeRoleCommand).callsFake(() => issued(now, 3600, 'ASIA1'));
    const results = await Promise.all(Array.from({ length: 500 }, () => broker.roleCredentials('signer', PLATFORM, 'bb-signer')));
    expect(new Set(results.map((r) => r.accessKeyId))).toEqual(new Set(['ASIA1']));
    expect(stsMock).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    expect(broker.assumeRoleCalls).toBe(1);
  });

  it('tags AccessDenied with the hop that refused', async () => {
    stsMock.on(AssumeRoleCommand, { RoleArn: PLATFORM }).resolves(issued(now, 3600, 'ASIAPLATFORM'));
    stsMock.on(AssumeRoleCommand, { RoleArn: CUSTOMER }).rejects(deniedError());
    const err = await broker
      .customerCredentials({ platformRoleArn: PLATFORM, customerRoleArn: CUSTOMER, externalId: 'org', sessionName: 'bb' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AssumeRoleDeniedError);
    expect((err as AssumeRoleDeniedError).hop).toBe('customer');
    expect((err as Error).name).toBe('AssumeRoleDeniedError');
  });

  it('reports a denied platform hop as the platform’s', async () => {
    stsMock.on(AssumeRoleCommand).rejects(deniedError());
    const err = await broker
      .customerCredentials({ platformRoleArn: PLATFORM, customerRoleArn: CUSTOMER, externalId: 'org', sessionName: 'bb' })
      .catch((e: unknown) => e);
    expect((err as AssumeRoleDeniedError).hop).toBe('platform');
  });

  it('turns throttling into a TransientError and does not cache the failure', async () => {
    stsMock
      .on(AssumeRoleCommand)
      .rejectsOnce(new STSServiceException({ name: 'Throttling', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' }))
      .callsFake(() => issued(now, 3600, 'ASIA2'));
    await expect(broker.roleCredentials('signer', PLATFORM, 'bb')).rejects.toBeInstanceOf(TransientError);
    await expect(broker.roleCredentials('signer', PLATFORM, 'bb')).resolves.toMatchObject({ accessKeyId: 'ASIA2' });
  });

  it('reads RegionDisabledException (403) as StsRegionDisabledError naming the region, not as AccessDenied', async () => {
    // Prepare: the modelled STS error, exactly as the SDK deserialises it
    stsMock.on(AssumeRoleCommand, { RoleArn: PLATFORM }).resolves(issued(now, 3600, 'ASIAPLATFORM'));
    stsMock
      .on(AssumeRoleCommand, { RoleArn: CUSTOMER })
      .rejects(new RegionDisabledException({ $metadata: { httpStatusCode: 403 }, message: 'STS is not activated in this region for account:222222222222.' }));
    // Act
    const err = await broker
      .customerCredentials({ platformRoleArn: PLATFORM, customerRoleArn: CUSTOMER, externalId: 'org', sessionName: 'bb' })
      .catch((e: unknown) => e);
    // Assess
    expect(err).toBeInstanceOf(StsRegionDisabledError);
    expect(err).toMatchObject({ name: 'StsRegionDisabledError', hop: 'customer' });
    expect((err as Error).message).toContain('us-east-1');
    expect((err as Error).message).toContain(CUSTOMER);
  });

  it('reads InvalidClientTokenId (403, a common error) as StsInvalidClientTokenError, not as AccessDenied', async () => {
    stsMock.on(AssumeRoleCommand).rejects(
      new STSServiceException({ name: 'InvalidClientTokenId', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'The security token included in the request is invalid.' }),
    );
    const err = await broker.roleCredentials('signer', PLATFORM, 'bb').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StsInvalidClientTokenError);
    expect(err).toMatchObject({ name: 'StsInvalidClientTokenError', hop: 'signer' });
  });

  it('does not read any other 403 as AccessDenied', async () => {
    const other = new STSServiceException({ name: 'SomethingElse', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'no' });
    stsMock.on(AssumeRoleCommand).rejects(other);
    const err = await broker.roleCredentials('signer', PLATFORM, 'bb').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(AssumeRoleDeniedError);
    expect(err).toBe(other);
  });

  it('refuses an answer without credentials', async () => {
    stsMock.on(AssumeRoleCommand).resolves({});
    await expect(broker.roleCredentials('signer', PLATFORM, 'bb')).rejects.toThrow(/without complete credentials/);
  });
});
