import { generateKeyPairSync } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient, STSServiceException } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { Context } from 'aws-lambda';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BackendConfig, DownloadConfig, OrgRecord } from '#shared/records/model';
import { CredentialBroker } from '#shared/credential-broker';
import {
  BackendNotFoundError,
  CloudFrontKeyError,
  CustomerTrustBrokenError,
  PlatformRoleNotAssumableError,
  StoragePermissionError,
  TransientError,
  ValidationError,
} from '#shared/errors';
import { logger } from '#shared/plain-logger';
import { verifyCloudFrontUrl } from '#shared/url-signers';
import { createHandler, signerDepsFromEnv } from '../../functions/signing/handler';
import { createUrlSigner, type SignResponse, type SignerDeps } from '../../functions/signing/sign-url';
import { sdkSignerDeps } from './helpers/sdk-signer-deps';

const ORG = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
const OTHER_ORG = 'a1b2c3d4-0000-4000-8000-000000000001';
const TABLE = 'binary-backends-test';
const SIGNER_ROLE = 'arn:aws:iam::111111111111:role/binary-backends-test-default-storage-signer';
const PLATFORM_ROLE = `arn:aws:iam::111111111111:role/binary_backend_${ORG}_prod`;
const CUSTOMER_ROLE = 'arn:aws:iam::222222222222:role/PeridioBinaries';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:cf-key-prod';
const SECRET_VERSION = '0123456789abcdef0123456789abcdef';
const KEY_PAIR_ID = 'K2JCJMDEHXQW5F';

const ddb = mockClient(DynamoDBDocumentClient);
const sts = mockClient(STSClient);
const s3 = mockClient(S3Client);
const secrets = mockClient(SecretsManagerClient);
afterAll(() => {
  ddb.restore();
  sts.restore();
  s3.restore();
  secrets.restore();
});

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

let nowMs: number;
const clock = () => new Date(nowMs);
let records: Record<string, OrgRecord>;
/** Session length STS grants in these tests (role chaining caps it at 1 h). */
let sessionSeconds: number;
let keyCounter: number;

function config(overrides: Partial<BackendConfig> & { download?: DownloadConfig } = {}): BackendConfig {
  return {
    configVersion: 1,
    executionArn: 'arn:aws:states:us-east-1:111111111111:execution:onboarding:x',
    executionName: 'x',
    status: 'ACTIVE',
    requestedBy: 'support',
    startedAt: '2026-11-01T00:00:00Z',
    trustDeadlineAt: '2026-11-08T00:00:00Z',
    attempts: 1,
    upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE, accountId: '222222222222', prefix: 'peridio/' },
    download: { type: 's3' },
    checks: [],
    createdAt: '2026-11-01T00:00:00Z',
    updatedAt: '2026-11-01T00:00:00Z',
    ...overrides,
  };
}

function customRecord(orgId: string, serving: BackendConfig | undefined, pending?: BackendConfig, active: string | null = 'prod'): OrgRecord {
  return {
    pk: `ORG#${orgId}`,
    sk: 'BACKENDS',
    orgId,
    active: active ?? undefined,
    version: 3,
    updatedAt: '2026-11-01T00:00:00Z',
    backends: { prod: { roleName: 'prod', platformRoleArn: PLATFORM_ROLE, lastConfigVersion: 2, serving, pending } },
  };
}

function deps(overrides: Partial<SignerDeps['settings']> = {}, threshold = 900): SignerDeps {
  return sdkSignerDeps({
    tableName: TABLE,
    clock,
    refreshThresholdSeconds: threshold,
    sdkMultipartCalls: true,
    settings: {
      defaultBucket: 'peridio-binaries-test',
      defaultBucketRegion: 'us-east-1',
      defaultSignerRoleArn: SIGNER_ROLE,
      configCacheTtlSeconds: 30,
      ...overrides,
    },
  });
}

const accessDenied = () =>
  Object.assign(new Error('User is not authorized to perform: sts:AssumeRole'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });

beforeEach(() => {
  ddb.reset();
  sts.reset();
  s3.reset();
  secrets.reset();
  delete process.env.AWS_ENDPOINT_URL_S3;
  delete process.env.AWS_ENDPOINT_URL;
  nowMs = Date.parse('2026-11-30T07:00:00.400Z');
  records = {};
  sessionSeconds = 3600;
  keyCounter = 0;
  ddb.on(GetCommand).callsFake((input: { Key: { pk: string } }) => ({ Item: records[input.Key.pk] }));
  sts.on(AssumeRoleCommand).callsFake((input: { RoleArn: string }) => {
    keyCounter += 1;
    return {
      Credentials: {
        AccessKeyId: `ASIA${input.RoleArn.includes('222222222222') ? 'CUSTOMER' : 'PLATFORM'}${keyCounter}`,
        SecretAccessKey: `secret-${keyCounter}`,
        SessionToken: `token-${keyCounter}`,
        Expiration: new Date(nowMs + sessionSeconds * 1000),
      },
    };
  });
  secrets.on(GetSecretValueCommand).resolves({ SecretString: rsaPem });
});

function assumedRoles(): string[] {
  return sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.RoleArn!);
}

describe('Function: sign (routing)', () => {
  it('sends an org with no record to default storage under orgs/<orgId>/, signed with the signer role', async () => {
    const signer = createUrlSigner(deps());
    const out = await signer.sign({ orgId: ORG, operation: 'download', keys: ['fw/a.bin'] });
    expect(out).toMatchObject({ storage: 'default', via: 's3' });
    expect(out.roleName).toBeUndefined();
    const url = new URL(out.urls[0]!.url);
    expect(url.host).toBe('peridio-binaries-test.s3.us-east-1.amazonaws.com');
    expect(url.pathname).toBe(`/orgs/${ORG}/fw/a.bin`);
    expect(assumedRoles()).toEqual([SIGNER_ROLE]);
    expect(out.urls[0]).toMatchObject({ key: 'fw/a.bin', method: 'GET', headers: {} });
  });

  it('sends an org with an active backend to its serving config, through the platform and customer roles', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'upload', keys: ['fw/a.bin'] });
    expect(out).toMatchObject({ storage: 'custom', roleName: 'prod', via: 's3' });
    const url = new URL(out.urls[0]!.url);
    expect(url.host).toBe('acme-firmware.s3.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe('/peridio/fw/a.bin');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^ASIACUSTOMER\d+\/\d{8}\/eu-west-1\/s3\/aws4_request$/);
    expect(out.urls[0]!.method).toBe('PUT');
    const calls = sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      expect.objectContaining({ RoleArn: PLATFORM_ROLE, ExternalId: undefined }),
      expect.objectContaining({ RoleArn: CUSTOMER_ROLE, ExternalId: ORG }),
    ]);
  });

  it('never uses a pending config, even when it is newer', async () => {
    const pending = config({ configVersion: 2, status: 'VERIFYING', upload: { bucket: 'new-bucket', region: 'us-west-2', roleArn: CUSTOMER_ROLE, accountId: '222222222222' } });
    records[`ORG#${ORG}`] = customRecord(ORG, config(), pending);
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    expect(new URL(out.urls[0]!.url).host).toBe('acme-firmware.s3.eu-west-1.amazonaws.com');
  });

  it('keeps an org on default storage while its first onboarding is only pending', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, undefined, config({ status: 'AWAITING_TRUST' }), null);
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    expect(out.storage).toBe('default');
  });

  it('refuses (BackendNotFoundError) an active backend without a serving config rather than fall back', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, undefined, config({ status: 'VERIFYING' }));
    await expect(createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'] })).rejects.toBeInstanceOf(
      BackendNotFoundError,
    );
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
  });

  it('uses an empty prefix when the serving config has none', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config({ upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: CUSTOMER_ROLE, accountId: '222222222222' } }));
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['x/y.fw'] });
    expect(new URL(out.urls[0]!.url).pathname).toBe('/x/y.fw');
  });

  it('signs downloads through CloudFront when the serving config has it, with no AWS credentials', async () => {
    records[`ORG#${ORG}`] = customRecord(
      ORG,
      config({
        download: { type: 'cloudfront', host: 'cdn.acme.example', keyPairId: KEY_PAIR_ID, hashAlgorithm: 'SHA256', privateKeySecretArn: SECRET_ARN, privateKeySecretVersionId: SECRET_VERSION, ttlSeconds: 7200 },
      }),
    );
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['fw/ü 1.bin'] });
    expect(out).toMatchObject({ storage: 'custom', roleName: 'prod', via: 'cloudfront', ttlSeconds: 7200 });
    expect(out.urls[0]!.url.startsWith('https://cdn.acme.example/peridio/fw/%C3%BC%201.bin?Expires=')).toBe(true);
    expect(out.urls[0]!.url.endsWith('&Hash-Algorithm=SHA256')).toBe(true);
    expect(verifyCloudFrontUrl(out.urls[0]!.url, rsa.publicKey, KEY_PAIR_ID).valid).toBe(true);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    expect(secrets.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({ SecretId: SECRET_ARN, VersionId: SECRET_VERSION });
  });

  it('still uploads to S3 for a CloudFront backend', async () => {
    records[`ORG#${ORG}`] = customRecord(
      ORG,
      config({ download: { type: 'cloudfront', host: 'cdn.acme.example', keyPairId: KEY_PAIR_ID, hashAlgorithm: 'SHA1', privateKeySecretArn: SECRET_ARN } }),
    );
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'upload', keys: ['a'] });
    expect(out.via).toBe('s3');
    expect(new URL(out.urls[0]!.url).host).toBe('acme-firmware.s3.eu-west-1.amazonaws.com');
  });

  it('keeps orgs apart: another org on default storage gets its own prefix, never the custom bucket', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    const signer = createUrlSigner(deps());
    await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    const other = await signer.sign({ orgId: OTHER_ORG, operation: 'download', keys: ['a'] });
    expect(new URL(other.urls[0]!.url).pathname).toBe(`/orgs/${OTHER_ORG}/a`);
    expect(other.urls[0]!.url).not.toContain('acme-firmware');
  });
});

describe('Function: sign (caches)', () => {
  it('reads the org record once per TTL and again after it', async () => {
    const signer = createUrlSigner(deps({ configCacheTtlSeconds: 30 }));
    await Promise.all(Array.from({ length: 20 }, () => signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })));
    expect(ddb.commandCalls(GetCommand)).toHaveLength(1);
    nowMs += 29_000;
    await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    expect(ddb.commandCalls(GetCommand)).toHaveLength(1);
    nowMs += 2_000;
    await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    expect(ddb.commandCalls(GetCommand)).toHaveLength(2);
    expect(signer.stats().getItemCalls).toBe(2);
  });

  it('picks up an activation after the config TTL', async () => {
    const signer = createUrlSigner(deps());
    expect((await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })).storage).toBe('default');
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    nowMs += 31_000;
    expect((await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })).storage).toBe('custom');
  });

  it('makes no second AssumeRole while the credentials have more than the threshold left', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    const signer = createUrlSigner(deps({}, 900));
    for (let i = 0; i < 10; i++) {
      await signer.sign({ orgId: ORG, operation: 'download', keys: Array.from({ length: 100 }, (_, j) => `k${j}`) });
      nowMs += 60_000; // 10 minutes of traffic, well inside the 45 minutes before refresh
    }
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(2); // platform + customer, once
    expect(signer.stats().assumeRoleCalls).toBe(2);
  });

  it('refreshes the credentials when less than the threshold is left', async () => {
    const signer = createUrlSigner(deps({ configCacheTtlSeconds: 3600 }, 900));
    await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    nowMs += (3600 - 900 - 1) * 1000;
    await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(1);
    nowMs += 2000; // now fewer than 900 s are left
    const out = await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(2);
    expect(out.ttlSeconds).toBe(900);
    expect(out.clamped).toBeUndefined();
  });

  it('shares one AssumeRole among concurrent requests', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    const signer = createUrlSigner(deps());
    await Promise.all(Array.from({ length: 50 }, () => signer.sign({ orgId: ORG, operation: 'upload', keys: ['a'] })));
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(2);
  });

  it('reads the CloudFront key once for many requests', async () => {
    records[`ORG#${ORG}`] = customRecord(
      ORG,
      config({ download: { type: 'cloudfront', host: 'cdn.acme.example', keyPairId: KEY_PAIR_ID, hashAlgorithm: 'SHA1', privateKeySecretArn: SECRET_ARN, privateKeySecretVersionId: SECRET_VERSION } }),
    );
    const signer = createUrlSigner(deps());
    for (let i = 0; i < 5; i++) await signer.sign({ orgId: ORG, operation: 'download', keys: ['a', 'b'] });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(signer.stats()).toEqual({ getItemCalls: 1, assumeRoleCalls: 0, getSecretValueCalls: 1 });
  });

  it('keeps the CloudFront key per signer instance: a new signer reads it afresh, no module-global cache', async () => {
    records[`ORG#${ORG}`] = customRecord(
      ORG,
      config({ download: { type: 'cloudfront', host: 'cdn.acme.example', keyPairId: KEY_PAIR_ID, hashAlgorithm: 'SHA1', privateKeySecretArn: SECRET_ARN, privateKeySecretVersionId: SECRET_VERSION } }),
    );
    const first = createUrlSigner(deps());
    await first.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    const second = createUrlSigner(deps());
    await second.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    await first.sign({ orgId: ORG, operation: 'download', keys: ['b'] });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(first.stats().getSecretValueCalls).toBe(1);
    expect(second.stats().getSecretValueCalls).toBe(1);
  });
});

describe('Function: sign (honest expiry)', () => {
  it('gives S3 URLs 900 s by default, and expiresAt says exactly when they stop', async () => {
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    const url = new URL(out.urls[0]!.url);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261130T070000Z');
    expect(out.urls[0]!.expiresAt).toBe('2026-11-30T07:15:00.000Z');
    expect(out.ttlSeconds).toBe(900);
  });

  it('clamps a TTL longer than the session has left, and says so', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    const signer = createUrlSigner(deps());
    await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    nowMs += 600_000; // the cached session now has 3000 s left
    const out = await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], ttlSeconds: 3600 });
    expect(out.clamped).toBe(true);
    expect(out.ttlSeconds).toBe(3000);
    expect(new URL(out.urls[0]!.url).searchParams.get('X-Amz-Expires')).toBe('3000');
    // The session was issued at 07:00:00.400 for 3600 s: the URL dies with it.
    expect(out.urls[0]!.expiresAt).toBe('2026-11-30T08:00:00.000Z');
  });

  it('never gives an S3 URL more than the session it was signed with', async () => {
    sessionSeconds = 1200; // a role whose MaxSessionDuration is short
    const out = await createUrlSigner(deps({}, 300)).sign({ orgId: ORG, operation: 'upload', keys: ['a'], ttlSeconds: 604_800 });
    expect(out.clamped).toBe(true);
    expect(Date.parse(out.urls[0]!.expiresAt)).toBeLessThanOrEqual(nowMs + 1200 * 1000);
  });

  it('gives CloudFront URLs the request TTL, else the config TTL, else 3600 s', async () => {
    const cf = (ttlSeconds?: number): DownloadConfig => ({
      type: 'cloudfront', host: 'cdn.acme.example', keyPairId: KEY_PAIR_ID, hashAlgorithm: 'SHA1', privateKeySecretArn: SECRET_ARN, ttlSeconds,
    });
    const nowSec = Math.floor(nowMs / 1000);
    records[`ORG#${ORG}`] = customRecord(ORG, config({ download: cf(86_400) }));
    let signer = createUrlSigner(deps());
    let out = await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], ttlSeconds: 604_800 });
    expect(out.urls[0]!.url).toContain(`Expires=${nowSec + 604_800}&`);
    expect(out.urls[0]!.expiresAt).toBe(new Date((nowSec + 604_800) * 1000).toISOString());
    expect(out.clamped).toBeUndefined();
    out = await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    expect(out.ttlSeconds).toBe(86_400);
    records[`ORG#${ORG}`] = customRecord(ORG, config({ download: cf(undefined) }));
    signer = createUrlSigner(deps());
    out = await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    expect(out.ttlSeconds).toBe(3600);
    expect(out.urls[0]!.url).toContain(`Expires=${nowSec + 3600}&`);
  });
});

describe('Function: sign (errors)', () => {
  it('answers CustomerTrustBrokenError when the customer withdrew trust, and never falls back to default storage', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    sts.on(AssumeRoleCommand, { RoleArn: CUSTOMER_ROLE }).rejects(accessDenied());
    const signer = createUrlSigner(deps());
    const err = await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CustomerTrustBrokenError);
    expect((err as Error).name).toBe('CustomerTrustBrokenError');
    expect((err as Error).message).toContain(CUSTOMER_ROLE);
    expect(assumedRoles()).not.toContain(SIGNER_ROLE);
  });

  it('remembers a refusal for the config TTL, so a burst does not hammer STS, then tries again', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    sts.on(AssumeRoleCommand, { RoleArn: CUSTOMER_ROLE }).rejects(accessDenied());
    const signer = createUrlSigner(deps());
    for (let i = 0; i < 5; i++) {
      await expect(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })).rejects.toBeInstanceOf(CustomerTrustBrokenError);
    }
    expect(assumedRoles().filter((r) => r === CUSTOMER_ROLE)).toHaveLength(1);
    nowMs += 31_000;
    sts.on(AssumeRoleCommand, { RoleArn: CUSTOMER_ROLE }).resolves({
      Credentials: { AccessKeyId: 'ASIAFIXED', SecretAccessKey: 's', SessionToken: 't', Expiration: new Date(nowMs + 3600_000) },
    });
    const out = await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    expect(out.storage).toBe('custom');
  });

  it('answers StsRegionDisabledError, not CustomerTrustBrokenError, when STS is off in the region', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    sts.on(AssumeRoleCommand, { RoleArn: CUSTOMER_ROLE }).rejects(
      new STSServiceException({ name: 'RegionDisabledException', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'STS is not activated in this region' }),
    );
    const err = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'StsRegionDisabledError', hop: 'customer' });
    expect(assumedRoles()).not.toContain(SIGNER_ROLE);
  });

  it('remembers a RegionDisabledException for the config TTL, so a burst costs one customer AssumeRole', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    sts.on(AssumeRoleCommand, { RoleArn: CUSTOMER_ROLE }).rejects(
      new STSServiceException({ name: 'RegionDisabledException', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'STS is not activated in this region' }),
    );
    const signer = createUrlSigner(deps());
    for (let i = 0; i < 5; i++) {
      await expect(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })).rejects.toMatchObject({ name: 'StsRegionDisabledError' });
    }
    expect(assumedRoles().filter((r) => r === CUSTOMER_ROLE)).toHaveLength(1);
  });

  it('answers StsInvalidClientTokenError when STS does not know the signer role credentials', async () => {
    sts.on(AssumeRoleCommand).rejects(
      new STSServiceException({ name: 'InvalidClientTokenId', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'The security token included in the request is invalid.' }),
    );
    const err = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'upload', keys: ['a'] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'StsInvalidClientTokenError', hop: 'signer' });
  });

  it('answers PlatformRoleNotAssumableError when our own platform role refuses', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    sts.on(AssumeRoleCommand, { RoleArn: PLATFORM_ROLE }).rejects(accessDenied());
    await expect(createUrlSigner(deps()).sign({ orgId: ORG, operation: 'upload', keys: ['a'] })).rejects.toBeInstanceOf(
      PlatformRoleNotAssumableError,
    );
  });

  it('answers AssumeRoleDeniedError (hop signer) when the default storage signer role refuses', async () => {
    sts.on(AssumeRoleCommand).rejects(accessDenied());
    const err = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'upload', keys: ['a'] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AssumeRoleDeniedError', hop: 'signer' });
  });

  it('answers TransientError when DynamoDB or STS throttle', async () => {
    ddb
      .on(GetCommand)
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }))
      .resolves({ Item: undefined });
    const signer = createUrlSigner(deps());
    await expect(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })).rejects.toBeInstanceOf(TransientError);
    sts.on(AssumeRoleCommand).rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    await expect(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })).rejects.toBeInstanceOf(TransientError);
  });

  it('answers TransientError when S3 fails with a 5xx during a multipart call', async () => {
    s3.on(CreateMultipartUploadCommand).rejects(Object.assign(new Error('We encountered an internal error'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } }));
    await expect(createUrlSigner(deps()).sign({ orgId: ORG, operation: 'multipart-start', key: 'a', parts: 2 })).rejects.toBeInstanceOf(TransientError);
  });

  it('never signs with credentials that have no session time left', async () => {
    const d = deps();
    const expired = { accessKeyId: 'ASIAOLD', secretAccessKey: 's', sessionToken: 't', expiration: new Date(nowMs - 1000) };
    d.broker = { roleCredentials: async () => expired, customerCredentials: async () => expired, assumeRoleCalls: 0 } as unknown as CredentialBroker;
    await expect(createUrlSigner(d).sign({ orgId: ORG, operation: 'download', keys: ['a'] })).rejects.toBeInstanceOf(TransientError);
  });

  it('answers CloudFrontKeyError when the key secret is gone or holds a wrong key', async () => {
    records[`ORG#${ORG}`] = customRecord(
      ORG,
      config({ download: { type: 'cloudfront', host: 'cdn.acme.example', keyPairId: KEY_PAIR_ID, hashAlgorithm: 'SHA1', privateKeySecretArn: SECRET_ARN } }),
    );
    secrets.on(GetSecretValueCommand).rejectsOnce(Object.assign(new Error('gone'), { name: 'ResourceNotFoundException' }));
    const signer = createUrlSigner(deps());
    await expect(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })).rejects.toBeInstanceOf(CloudFrontKeyError);
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    });
    await expect(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })).rejects.toThrow(/RSA 1024/);
  });
});

describe('Function: sign (bad input)', () => {
  const cases: [string, unknown, string][] = [
    ['a non-object', 'download', '(input)'],
    ['a missing orgId', { operation: 'download', keys: ['a'] }, 'orgId'],
    ['an uppercase orgId', { orgId: ORG.toUpperCase(), operation: 'download', keys: ['a'] }, 'orgId'],
    ['an unknown operation', { orgId: ORG, operation: 'delete', keys: ['a'] }, 'operation'],
    ['no keys', { orgId: ORG, operation: 'download' }, 'keys'],
    ['empty keys', { orgId: ORG, operation: 'download', keys: [] }, 'keys'],
    ['1001 keys', { orgId: ORG, operation: 'upload', keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) }, 'keys'],
    ['an empty key', { orgId: ORG, operation: 'download', keys: ['ok', ''] }, 'keys.1'],
    ['a key with a control character', { orgId: ORG, operation: 'download', keys: ['a\nb'] }, 'keys.0'],
    ['a key with DEL', { orgId: ORG, operation: 'download', keys: ['a\u007fb'] }, 'keys.0'],
    ['a key with a lone surrogate', { orgId: ORG, operation: 'download', keys: ['a\ud800b'] }, 'keys.0'],
    ['a key with a .. segment', { orgId: ORG, operation: 'download', keys: ['a/../b'] }, 'keys.0'],
    ['a key over 1024 bytes', { orgId: ORG, operation: 'download', keys: ['é'.repeat(513)] }, 'keys.0'],
    ['a key that is over 1024 bytes only after the org prefix', { orgId: ORG, operation: 'download', keys: ['a'.repeat(1000)] }, 'keys.0'],
    ['a number as key', { orgId: ORG, operation: 'download', keys: [5] }, 'keys.0'],
    ['a TTL under 60 s', { orgId: ORG, operation: 'download', keys: ['a'], ttlSeconds: 59 }, 'ttlSeconds'],
    ['a TTL over 7 days', { orgId: ORG, operation: 'download', keys: ['a'], ttlSeconds: 604_801 }, 'ttlSeconds'],
    ['a fractional TTL', { orgId: ORG, operation: 'download', keys: ['a'], ttlSeconds: 90.5 }, 'ttlSeconds'],
    ['a TTL as text', { orgId: ORG, operation: 'download', keys: ['a'], ttlSeconds: '900' }, 'ttlSeconds'],
    ['an unknown field', { orgId: ORG, operation: 'download', keys: ['a'], bucket: 'other' }, 'bucket'],
    ['key instead of keys', { orgId: ORG, operation: 'download', key: 'a' }, 'key'],
    ['0 parts', { orgId: ORG, operation: 'multipart-start', key: 'a', parts: 0 }, 'parts'],
    ['10001 parts', { orgId: ORG, operation: 'multipart-start', key: 'a', parts: 10_001 }, 'parts'],
    ['multipart-start without key', { orgId: ORG, operation: 'multipart-start', parts: 2 }, 'key'],
    ['multipart-complete without uploadId', { orgId: ORG, operation: 'multipart-complete', key: 'a', parts: [{ partNumber: 1, etag: '"e"' }] }, 'uploadId'],
    ['multipart-complete with no parts', { orgId: ORG, operation: 'multipart-complete', key: 'a', uploadId: 'u', parts: [] }, 'parts'],
    ['a part number of 0', { orgId: ORG, operation: 'multipart-complete', key: 'a', uploadId: 'u', parts: [{ partNumber: 0, etag: '"e"' }] }, 'parts.0.partNumber'],
    ['a repeated part number', { orgId: ORG, operation: 'multipart-complete', key: 'a', uploadId: 'u', parts: [{ partNumber: 1, etag: '"e"' }, { partNumber: 1, etag: '"f"' }] }, 'parts.1.partNumber'],
    ['a part without etag', { orgId: ORG, operation: 'multipart-complete', key: 'a', uploadId: 'u', parts: [{ partNumber: 1 }] }, 'parts.0.etag'],
    ['multipart-abort without uploadId', { orgId: ORG, operation: 'multipart-abort', key: 'a' }, 'uploadId'],
  ];

  it.each(cases)('refuses %s with a ValidationError naming the field, and signs nothing', async (_name, input, field) => {
    const signer = createUrlSigner(deps());
    const err = await signer.sign(input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).name).toBe('ValidationError');
    expect((err as ValidationError).fields).toContain(field);
    expect((err as Error).message).toContain(`${field}:`);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    expect(s3.calls()).toHaveLength(0);
    expect(secrets.calls()).toHaveLength(0);
  });

  it('accepts a key of exactly 1024 bytes after the custom prefix', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'.repeat(1024 - 'peridio/'.length)] });
    expect(out.urls).toHaveLength(1);
  });

  it('accepts 1000 keys and signs each for its own key', async () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `fw/${i}.bin`);
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys });
    expect(out.urls.map((u) => u.key)).toEqual(keys);
    expect(new URL(out.urls[999]!.url).pathname).toBe(`/orgs/${ORG}/fw/999.bin`);
  });
});

describe("Function: sign (Lambda's 6 MB response limit)", () => {
  it('refuses download URLs that would not fit in one response, and says how many keys fit', async () => {
    // Real assumed-role session tokens are about 1 KB, and every S3 URL carries one.
    sts.on(AssumeRoleCommand).resolves({
      Credentials: { AccessKeyId: 'ASIAFIXED', SecretAccessKey: 's', SessionToken: 'IQoJb3JpZ2luX2VjE'.padEnd(1000, 'x'), Expiration: new Date(nowMs + 3600_000) },
    });
    // 1000 keys of 980 bytes, mostly '"': each is ~1960 bytes as JSON and ~2940 characters in its URL.
    const keys = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(4, '0')}${'"'.repeat(976)}`);
    const err = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).fields).toEqual(['keys']);
    const fit = Number(/at most (\d+) keys/.exec((err as Error).message)![1]);
    expect(fit).toBeGreaterThan(100);
    expect(fit).toBeLessThan(1000);
    const ok = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'upload', keys: keys.slice(0, fit) });
    expect(Buffer.byteLength(JSON.stringify(ok))).toBeLessThanOrEqual(6_000_000);
  });
});

describe('Function: sign (multipart)', () => {
  beforeEach(() => {
    s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"abc-3"' });
    s3.on(AbortMultipartUploadCommand).resolves({});
  });

  it('starts an upload under the org prefix and returns one UploadPart URL per part', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'multipart-start', key: 'fw/big.bin', parts: 3 });
    expect(s3.commandCalls(CreateMultipartUploadCommand)[0]!.args[0].input).toEqual({ Bucket: 'acme-firmware', Key: 'peridio/fw/big.bin' });
    expect(out).toMatchObject({ storage: 'custom', via: 's3', key: 'fw/big.bin', uploadId: 'upload-1', ttlSeconds: 900 });
    expect(out.urls.map((u) => u.partNumber)).toEqual([1, 2, 3]);
    for (const [i, u] of out.urls.entries()) {
      const url = new URL(u.url);
      expect(u.method).toBe('PUT');
      expect(url.pathname).toBe('/peridio/fw/big.bin');
      expect(url.searchParams.get('partNumber')).toBe(String(i + 1));
      expect(url.searchParams.get('uploadId')).toBe('upload-1');
      expect(u.url.toLowerCase()).not.toContain('x-amz-checksum');
    }
  });

  it('refuses, before creating anything, more part URLs than fit in a Lambda response', async () => {
    const err = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'multipart-start', key: 'a', parts: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).fields).toEqual(['parts']);
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  it('hands out URLs for all 10,000 parts in pages, with one CreateMultipartUpload (firstPart, then uploadId + nextPart)', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    const signer = createUrlSigner(deps());
    const request = { orgId: ORG, operation: 'multipart-start', key: 'fw/huge.bin', parts: 10_000 };
    let page = await signer.sign({ ...request, firstPart: 1 });
    const uploadId = page.uploadId!;
    expect(uploadId).toBe('upload-1');
    const seen: number[] = [];
    let pages = 1;
    for (;;) {
      expect(page.uploadId).toBe(uploadId);
      expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThanOrEqual(6_000_000);
      for (const u of page.urls) {
        seen.push(u.partNumber!);
        expect(new URL(u.url).searchParams.get('partNumber')).toBe(String(u.partNumber));
        expect(new URL(u.url).searchParams.get('uploadId')).toBe(uploadId);
      }
      if (page.nextPart === undefined) break;
      expect(page.nextPart).toBe(seen[seen.length - 1]! + 1);
      page = await signer.sign({ ...request, uploadId, firstPart: page.nextPart });
      pages += 1;
    }
    expect(pages).toBeGreaterThan(1);
    expect(seen).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(1);
  });

  it('answers a small paged request in one page without nextPart', async () => {
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'multipart-start', key: 'a', parts: 3, firstPart: 1 });
    expect(out.urls.map((u) => u.partNumber)).toEqual([1, 2, 3]);
    expect(out.nextPart).toBeUndefined();
  });

  it.each([
    ['uploadId without firstPart', { uploadId: 'u' }, 'firstPart'],
    ['a later page without uploadId', { firstPart: 2 }, 'uploadId'],
    ['firstPart past the last part', { uploadId: 'u', firstPart: 4 }, 'firstPart'],
    ['firstPart 0', { firstPart: 0 }, 'firstPart'],
  ])('refuses %s, with nothing created', async (_name, extra, field) => {
    const err = await createUrlSigner(deps())
      .sign({ orgId: ORG, operation: 'multipart-start', key: 'a', parts: 3, ...extra })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).fields).toEqual([field]);
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  it('says how to page when refusing more part URLs than fit', async () => {
    const err = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'multipart-start', key: 'a', parts: 10_000 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/firstPart: 1.*nextPart/);
  });

  it('completes with the parts in order', async () => {
    const out = await createUrlSigner(deps()).sign({
      orgId: ORG, operation: 'multipart-complete', key: 'a', uploadId: 'upload-1',
      parts: [{ partNumber: 2, etag: '"b"' }, { partNumber: 1, etag: '"a"' }],
    });
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]!.args[0].input).toEqual({
      Bucket: 'peridio-binaries-test', Key: `orgs/${ORG}/a`, UploadId: 'upload-1',
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"a"' }, { PartNumber: 2, ETag: '"b"' }] },
    });
    expect(out).toMatchObject({ storage: 'default', key: 'a', uploadId: 'upload-1', etag: '"abc-3"', urls: [] });
  });

  it('turns an unknown upload ID into a ValidationError naming uploadId', async () => {
    s3.on(CompleteMultipartUploadCommand).rejects(Object.assign(new Error('The specified upload does not exist.'), { name: 'NoSuchUpload' }));
    const err = await createUrlSigner(deps())
      .sign({ orgId: ORG, operation: 'multipart-complete', key: 'a', uploadId: 'nope', parts: [{ partNumber: 1, etag: '"a"' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).fields).toEqual(['uploadId']);
  });

  it('turns parts S3 refuses into a ValidationError naming parts', async () => {
    s3.on(CompleteMultipartUploadCommand).rejects(Object.assign(new Error('Your proposed upload is smaller than the minimum allowed size'), { name: 'EntityTooSmall' }));
    await expect(
      createUrlSigner(deps()).sign({ orgId: ORG, operation: 'multipart-complete', key: 'a', uploadId: 'u', parts: [{ partNumber: 1, etag: '"a"' }] }),
    ).rejects.toMatchObject({ name: 'ValidationError', fields: ['parts'] });
  });

  it('aborts on default storage', async () => {
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'multipart-abort', key: 'a', uploadId: 'upload-1' });
    expect(s3.commandCalls(AbortMultipartUploadCommand)[0]!.args[0].input).toEqual({ Bucket: 'peridio-binaries-test', Key: `orgs/${ORG}/a`, UploadId: 'upload-1' });
    expect(out.aborted).toBe(true);
  });

  it('answers StoragePermissionError when a customer policy lacks s3:AbortMultipartUpload (the seed policy does)', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    s3.on(AbortMultipartUploadCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));
    const err = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'multipart-abort', key: 'a', uploadId: 'u' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoragePermissionError);
    expect((err as Error).message).toContain(CUSTOMER_ROLE);
  });

  it('answers CustomerTrustBrokenError for multipart calls too, with nothing created', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    sts.on(AssumeRoleCommand, { RoleArn: CUSTOMER_ROLE }).rejects(accessDenied());
    await expect(createUrlSigner(deps()).sign({ orgId: ORG, operation: 'multipart-start', key: 'a', parts: 2 })).rejects.toBeInstanceOf(
      CustomerTrustBrokenError,
    );
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });
});

describe('Function: handler', () => {
  const context = { functionName: 'binary-backends-test-sign-url', awsRequestId: 'req-1' } as unknown as Context;

  it('signs through the handler glue', async () => {
    const handler = createHandler(deps());
    const out = (await handler({ orgId: ORG, operation: 'download', keys: ['a'] }, context)) as SignResponse;
    expect(out.storage).toBe('default');
    expect(out.urls).toHaveLength(1);
  });

  it('logs a summary without URLs or session tokens', async () => {
    records[`ORG#${ORG}`] = customRecord(ORG, config());
    const info = vi.spyOn(logger, 'info');
    try {
      const handler = createHandler(deps());
      const out = (await handler({ orgId: ORG, operation: 'upload', keys: ['a'] }, context)) as SignResponse;
      expect(info).toHaveBeenCalledWith('Signed', expect.objectContaining({ orgId: ORG, operation: 'upload', storage: 'custom', urlCount: 1 }));
      const logged = JSON.stringify(info.mock.calls);
      expect(logged).not.toContain(out.urls[0]!.url);
      expect(logged).not.toContain('token-');
      expect(logged).not.toContain('X-Amz-Signature');
    } finally {
      info.mockRestore();
    }
  });

  it('rethrows errors by their literal name, as the Invoke caller sees them', async () => {
    const handler = createHandler(deps());
    await expect(handler({ orgId: ORG, operation: 'nope' }, context)).rejects.toMatchObject({ name: 'ValidationError' });
  });

  it('reads its configuration from the environment, naming a missing variable', () => {
    expect(() => signerDepsFromEnv({ AWS_REGION: 'us-east-1', TABLE_NAME: 't', DEFAULT_BUCKET: 'b', DEFAULT_BUCKET_REGION: 'us-east-1' })).toThrow(
      /DEFAULT_SIGNER_ROLE_ARN is not set/,
    );
    expect(() => signerDepsFromEnv({ AWS_REGION: 'us-east-1', TABLE_NAME: 't', DEFAULT_BUCKET: 'b', DEFAULT_BUCKET_REGION: 'us-east-1', DEFAULT_SIGNER_ROLE_ARN: SIGNER_ROLE, CREDENTIAL_REFRESH_THRESHOLD_SECONDS: '3600' })).toThrow(
      /CREDENTIAL_REFRESH_THRESHOLD_SECONDS: must be a whole number of seconds from 60 to 3000/,
    );
    expect(() => signerDepsFromEnv({})).toThrow(expect.objectContaining({ name: 'ConfigurationError' }));
    const d = signerDepsFromEnv({ AWS_REGION: 'us-east-1', TABLE_NAME: 't', DEFAULT_BUCKET: 'b', DEFAULT_BUCKET_REGION: 'eu-west-1', DEFAULT_SIGNER_ROLE_ARN: SIGNER_ROLE });
    expect(d.settings).toEqual({ defaultBucket: 'b', defaultBucketRegion: 'eu-west-1', defaultSignerRoleArn: SIGNER_ROLE, configCacheTtlSeconds: 30 });
  });
});
