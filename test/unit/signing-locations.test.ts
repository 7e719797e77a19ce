/**
 * The signer's storage locations (docs/locations.md, docs/signer.md "Locations"): the `location` field of the
 * request contract, resolution (default, current route, location items, legacy serving configs), the
 * location cache, the race against a re-onboarding's Activate, and org isolation as a property.
 * The table is in memory (MemoryItems), STS and S3 are aws-sdk-client-mock fakes, the clock is injected.
 */
import { generateKeyPairSync } from 'node:crypto';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { BackendNotFoundError, LocationOffboardedError, ValidationError } from '#shared/errors';
import { LOCATION_PATTERN, locationFor } from '#shared/identifiers';
import { locationSk } from '#shared/records/location-read';
import { verifyCloudFrontUrl } from '#shared/url-signers';
import { createUrlSigner, type SignResponse, type SignerDeps, type UrlSigner } from '../../functions/signing/sign-url';
import {
  CUSTOMER_ACCOUNT,
  MemoryItems,
  locationItem,
  orgItem,
  platformRoleFor,
  reonboardSteps,
  type ConfigSpec,
} from './helpers/locations';
import { sdkSignerDeps } from './helpers/sdk-signer-deps';

const ORG = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
const OTHER_ORG = 'a1b2c3d4-0000-4000-8000-000000000001';
const SIGNER_ROLE = 'arn:aws:iam::111111111111:role/binary-backends-test-default-storage-signer';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:cf-key-old';
const KEY_PAIR_ID = 'K2JCJMDEHXQW5F';
const OLD_ROLE = `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PeridioBinariesOld`;
const NEW_ROLE = `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PeridioBinariesNew`;

/** prod v1 (bucket 1, old customer role), then re-onboarded to prod v2 (bucket 2, new customer role). */
const V1: ConfigSpec = { configVersion: 1, bucket: 'acme-bucket-1', prefix: 'one/', customerRoleArn: OLD_ROLE };
const V2: ConfigSpec = { configVersion: 2, bucket: 'acme-bucket-2', region: 'us-west-2', prefix: 'two/', customerRoleArn: NEW_ROLE, withLocation: true };
const L1 = locationFor('prod', 1);
const L2 = locationFor('prod', 2);

const sts = mockClient(STSClient);
const s3 = mockClient(S3Client);
const secrets = mockClient(SecretsManagerClient);
afterAll(() => {
  sts.restore();
  s3.restore();
  secrets.restore();
});
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

let nowMs: number;
const clock = () => new Date(nowMs);
let items: MemoryItems;
let keyCounter: number;

function deps(ttlSeconds = 30): SignerDeps {
  return sdkSignerDeps({
    items,
    tableName: 'binary-backends-test',
    clock,
    sdkMultipartCalls: true,
    settings: { defaultBucket: 'peridio-binaries-test', defaultBucketRegion: 'us-east-1', defaultSignerRoleArn: SIGNER_ROLE, configCacheTtlSeconds: ttlSeconds },
  });
}

beforeEach(() => {
  sts.reset();
  s3.reset();
  secrets.reset();
  delete process.env.AWS_ENDPOINT_URL_S3;
  delete process.env.AWS_ENDPOINT_URL;
  nowMs = Date.parse('2026-12-02T07:00:00.400Z');
  items = new MemoryItems();
  keyCounter = 0;
  sts.on(AssumeRoleCommand).callsFake((input: { RoleArn: string }) => {
    keyCounter += 1;
    return {
      Credentials: {
        AccessKeyId: `ASIA${input.RoleArn.includes(CUSTOMER_ACCOUNT) ? 'CUSTOMER' : 'PLATFORM'}${keyCounter}`,
        SecretAccessKey: `secret-${keyCounter}`,
        SessionToken: `token-${keyCounter}`,
        Expiration: new Date(nowMs + 3600_000),
      },
    };
  });
  s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"done-2"' });
  s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'up-new' });
  secrets.on(GetSecretValueCommand).resolves({ SecretString: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string });
});

/** After the re-onboarding: prod v2 serves, v1 is retired (both items exist). */
function reonboarded(orgId = ORG): void {
  items.put(orgItem(orgId, 'prod', { prod: V2 }));
  items.put(locationItem(orgId, 'prod', V1, 'retired', { retiredAt: '2026-12-01T00:00:00Z', retiredReason: 'replaced', replacedBy: L2 }));
  items.put(locationItem(orgId, 'prod', V2, 'serving'));
}

function assumeRoleInputs(): { RoleArn?: string; ExternalId?: string }[] {
  return sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input);
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error('expected the promise to reject with an Error');
  return err;
}

describe('Request: location', () => {
  const bad: [string, unknown][] = [
    ['empty', ''],
    ['capitalised default', 'Default'],
    ['no config version', 'b.prod'],
    ['config version 0', 'b.prod.0'],
    ['empty role segment', 'b..1'],
    ['a slash', 'b.pro/d.1'],
    ['too long', `b.${'a'.repeat(31)}.1`],
    ['a bucket name', 'acme-bucket-1'],
    ['a number', 7],
    ['null', null],
    ['an object', { location: L1 }],
  ];
  for (const [what, value] of bad) {
    it(`refuses a location that is ${what}, naming location and the rule, before any read`, async () => {
      reonboarded();
      const signer = createUrlSigner(deps());
      const err = await failure(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], location: value }));
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).fields).toEqual(['location']);
      expect(err.message).toMatch(/^location: /);
      if (typeof value === 'string') expect(err.message).toContain('"default" or b.<backend>.<configVersion>');
      expect(items.reads).toBe(0);
      expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    });
  }

  it('refuses any location on upload, saying uploads always go to the current storage', async () => {
    reonboarded();
    const signer = createUrlSigner(deps());
    for (const location of [L1, L2, 'default', 'nonsense', 3]) {
      const err = await failure(signer.sign({ orgId: ORG, operation: 'upload', keys: ['a'], location }));
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).fields).toEqual(['location']);
      expect(err.message).toContain('location: uploads always go to the current storage');
    }
    expect(items.reads).toBe(0);
  });

  it('refuses a location on a first multipart-start page (no uploadId), and accepts it on a later page', async () => {
    reonboarded();
    const signer = createUrlSigner(deps());
    for (const req of [
      { orgId: ORG, operation: 'multipart-start', key: 'a', parts: 2, location: L1 },
      { orgId: ORG, operation: 'multipart-start', key: 'a', parts: 2, firstPart: 1, location: L1 },
    ]) {
      const err = await failure(signer.sign(req));
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).fields).toEqual(['location']);
      expect(err.message).toContain('a new upload always goes to the current storage');
    }
    expect(items.reads).toBe(0);
    const page = await signer.sign({ orgId: ORG, operation: 'multipart-start', key: 'a', parts: 2, firstPart: 2, uploadId: 'up-1', location: L1 });
    expect(page.location).toBe(L1);
    expect(new URL(page.urls[0]!.url).host).toBe('acme-bucket-1.s3.eu-west-1.amazonaws.com');
    expect(new URL(page.urls[0]!.url).pathname).toBe('/one/a');
  });

  it('keeps old requests working: no location signs for the current route, and says which it is', async () => {
    reonboarded();
    const signer = createUrlSigner(deps());
    const down = await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    expect(down).toMatchObject({ storage: 'custom', roleName: 'prod', location: L2, via: 's3' });
    expect(new URL(down.urls[0]!.url).host).toBe('acme-bucket-2.s3.us-west-2.amazonaws.com');
    const up = await signer.sign({ orgId: ORG, operation: 'upload', keys: ['a'] });
    expect(up.location).toBe(L2);
    const start = await signer.sign({ orgId: ORG, operation: 'multipart-start', key: 'a', parts: 1, firstPart: 1 });
    expect(start.location).toBe(L2);
    const fresh = await signer.sign({ orgId: OTHER_ORG, operation: 'download', keys: ['a'] });
    expect(fresh).toMatchObject({ storage: 'default', location: 'default' });
    // No location item was read for any of them.
    expect(items.locationReads).toBe(0);
  });

  it('computes the current location of a record written before locations (no serving.location)', async () => {
    items.put(orgItem(ORG, 'prod', { prod: V1 }));
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'upload', keys: ['a'] });
    expect(out.location).toBe(L1);
  });
});

describe('Resolution of a location', () => {
  it('default -> default storage under orgs/<orgId>/, with the signer role and no read at all', async () => {
    reonboarded();
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['fw/a.bin'], location: 'default' });
    expect(out).toMatchObject({ storage: 'default', location: 'default', via: 's3' });
    expect(new URL(out.urls[0]!.url).host).toBe('peridio-binaries-test.s3.us-east-1.amazonaws.com');
    expect(new URL(out.urls[0]!.url).pathname).toBe(`/orgs/${ORG}/fw/a.bin`);
    expect(assumeRoleInputs().map((i) => i.RoleArn)).toEqual([SIGNER_ROLE]);
    expect(items.reads).toBe(0);
  });

  it("the current route's location -> the current route, without reading its location item", async () => {
    reonboarded();
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'], location: L2 });
    expect(out.location).toBe(L2);
    expect(new URL(out.urls[0]!.url).host).toBe('acme-bucket-2.s3.us-west-2.amazonaws.com');
    expect(items.locationReads).toBe(0);
  });

  it('a retired location -> its own bucket and prefix, through its own customer role with ExternalId = org ID', async () => {
    reonboarded();
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['fw/a.bin'], location: L1 });
    expect(out).toMatchObject({ storage: 'custom', roleName: 'prod', location: L1, via: 's3' });
    const url = new URL(out.urls[0]!.url);
    expect(url.host).toBe('acme-bucket-1.s3.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe('/one/fw/a.bin');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^ASIACUSTOMER\d+\/\d{8}\/eu-west-1\/s3\/aws4_request$/);
    expect(assumeRoleInputs()).toEqual([
      expect.objectContaining({ RoleArn: platformRoleFor(ORG, 'prod'), ExternalId: undefined }),
      expect.objectContaining({ RoleArn: OLD_ROLE, ExternalId: ORG }),
    ]);
    expect(items.log).toContain(`ORG#${ORG}|${locationSk(L1)}`);
  });

  it('a retired CloudFront location -> its own CloudFront host and key', async () => {
    const cf: ConfigSpec = {
      ...V1,
      download: { type: 'cloudfront', host: 'old-cdn.acme.example', keyPairId: KEY_PAIR_ID, hashAlgorithm: 'SHA1', privateKeySecretArn: SECRET_ARN },
    };
    items.put(orgItem(ORG, 'prod', { prod: V2 }));
    items.put(locationItem(ORG, 'prod', cf, 'retired'));
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a b'], location: L1 });
    expect(out).toMatchObject({ location: L1, via: 'cloudfront' });
    expect(out.urls[0]!.url.startsWith('https://old-cdn.acme.example/one/a%20b?Expires=')).toBe(true);
    expect(verifyCloudFrontUrl(out.urls[0]!.url, rsa.publicKey, KEY_PAIR_ID).valid).toBe(true);
    expect(secrets.commandCalls(GetSecretValueCommand)[0]!.args[0].input.SecretId).toBe(SECRET_ARN);
  });

  it('a serving item that is not (yet) the current route in this signer still signs for itself', async () => {
    items.put(orgItem(ORG, 'prod', { prod: V1 }));
    items.put(locationItem(ORG, 'prod', V2, 'serving'));
    const out = await createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'], location: L2 });
    expect(out.location).toBe(L2);
    expect(new URL(out.urls[0]!.url).host).toBe('acme-bucket-2.s3.us-west-2.amazonaws.com');
  });

  it('completes a multipart upload in the location it was started in', async () => {
    reonboarded();
    const out = await createUrlSigner(deps()).sign({
      orgId: ORG,
      operation: 'multipart-complete',
      key: 'big.bin',
      uploadId: 'up-1',
      parts: [{ partNumber: 1, etag: '"p1"' }],
      location: L1,
    });
    expect(out).toMatchObject({ location: L1, etag: '"done-2"' });
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]!.args[0].input).toMatchObject({ Bucket: 'acme-bucket-1', Key: 'one/big.bin' });
  });

  it('an offboarded location -> LocationOffboardedError saying when, by whom and why; nothing signed', async () => {
    reonboarded();
    items.update(`ORG#${ORG}`, locationSk(L1), {
      state: 'offboarded',
      offboardedAt: '2026-12-02T06:00:00Z',
      offboardedBy: 'arn:aws:sts::111111111111:assumed-role/Support/alice',
      offboardReason: 'bucket 1 decommissioned',
    });
    const err = await failure(createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'], location: L1 }));
    expect(err).toBeInstanceOf(LocationOffboardedError);
    expect(err.name).toBe('LocationOffboardedError');
    expect(err.message).toContain(L1);
    expect(err.message).toContain('2026-12-02T06:00:00Z');
    expect(err.message).toContain('assumed-role/Support/alice');
    expect(err.message).toContain('bucket 1 decommissioned');
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
  });

  it('an unknown location -> ValidationError naming location, never a fallback to another location', async () => {
    reonboarded();
    const err = await failure(createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'], location: locationFor('prod', 9) }));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).fields).toEqual(['location']);
    expect(err.message).toBe(`location: no such location for org ${ORG} (got "b.prod.9")`);
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
  });

  it("another org's location -> ValidationError: the read is keyed by the asking org", async () => {
    reonboarded(OTHER_ORG);
    items.put(orgItem(ORG, undefined, {}));
    const err = await failure(createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'], location: L1 }));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).fields).toEqual(['location']);
    expect(items.log.filter((k) => k.includes('LOCATION#'))).toEqual([`ORG#${ORG}|${locationSk(L1)}`]);
  });

  it('a legacy location (no item yet) -> the serving config in the org item that has it; pending configs never', async () => {
    // Backend "old" served, then "new" was activated, all before locations: no location items at all.
    items.put(orgItem(ORG, 'new', { old: V1, new: { configVersion: 1, bucket: 'acme-new' } }, { old: { configVersion: 2, bucket: 'acme-pending' } }));
    const signer = createUrlSigner(deps());
    const out = await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], location: locationFor('old', 1) });
    expect(out).toMatchObject({ storage: 'custom', roleName: 'old', location: 'b.old.1' });
    expect(new URL(out.urls[0]!.url).host).toBe('acme-bucket-1.s3.eu-west-1.amazonaws.com');
    expect(assumeRoleInputs()).toEqual([
      expect.objectContaining({ RoleArn: platformRoleFor(ORG, 'old') }),
      expect.objectContaining({ RoleArn: OLD_ROLE, ExternalId: ORG }),
    ]);
    const err = await failure(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], location: locationFor('old', 2) }));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).fields).toEqual(['location']);
  });

  it('refuses a location item that names another org (a broken item) rather than sign for it', async () => {
    items.put(orgItem(ORG, 'prod', { prod: V2 }));
    items.put({ ...locationItem(OTHER_ORG, 'prod', V1, 'retired'), pk: `ORG#${ORG}` });
    const err = await failure(createUrlSigner(deps()).sign({ orgId: ORG, operation: 'download', keys: ['a'], location: L1 }));
    expect(err).toBeInstanceOf(BackendNotFoundError);
  });
});

describe('Location cache', () => {
  it('makes no GetItem per URL for a warm location: one org read and one location read per TTL', async () => {
    reonboarded();
    const signer = createUrlSigner(deps(30));
    const keys = Array.from({ length: 100 }, (_, i) => `fw/${i}.bin`);
    for (let i = 0; i < 10; i++) {
      const out = await signer.sign({ orgId: ORG, operation: 'download', keys, location: L1 });
      expect(out.urls).toHaveLength(100);
      nowMs += 2000;
    }
    expect({ org: items.orgReads, location: items.locationReads }).toEqual({ org: 1, location: 1 });
    expect(signer.stats().getItemCalls).toBe(2);
    nowMs += 11_000; // 31 s after the first reads
    await signer.sign({ orgId: ORG, operation: 'download', keys, location: L1 });
    expect({ org: items.orgReads, location: items.locationReads }).toEqual({ org: 2, location: 2 });
    expect(signer.stats().getItemCalls).toBe(4);
  });

  it('caches misses: an unknown location costs one read per TTL, not one per request', async () => {
    reonboarded();
    const signer = createUrlSigner(deps(30));
    for (let i = 0; i < 5; i++) {
      await expect(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], location: 'b.prod.7' })).rejects.toBeInstanceOf(ValidationError);
    }
    expect(items.locationReads).toBe(1);
    nowMs += 30_000;
    await expect(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], location: 'b.prod.7' })).rejects.toBeInstanceOf(ValidationError);
    expect(items.locationReads).toBe(2);
  });

  it('shares one read among concurrent requests for a cold location', async () => {
    reonboarded();
    const signer = createUrlSigner(deps(30));
    const outs = await Promise.all(Array.from({ length: 20 }, () => signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], location: L1 })));
    expect(outs.every((o) => o.location === L1)).toBe(true);
    expect({ org: items.orgReads, location: items.locationReads }).toEqual({ org: 1, location: 1 });
  });

  it('sees an offboarding within the TTL', async () => {
    reonboarded();
    const signer = createUrlSigner(deps(30));
    await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], location: L1 });
    items.update(`ORG#${ORG}`, locationSk(L1), { state: 'offboarded', offboardedAt: '2026-12-02T07:00:10Z', offboardedBy: 'bob', offboardReason: 'gone' });
    nowMs += 30_000;
    await expect(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], location: L1 })).rejects.toBeInstanceOf(LocationOffboardedError);
  });

  it('re-reads a cached miss older than the org item in hand (an Activate materialised the item meanwhile)', async () => {
    // Legacy org: backend "old" served, "new" is active, no items. The signer caches a miss for b.old.1 and
    // resolves it from the org item.
    items.put(orgItem(ORG, 'new', { old: V1, new: { configVersion: 1, bucket: 'acme-new' } }));
    const signer = createUrlSigner(deps(30));
    await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] });
    nowMs += 10_000;
    expect((await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], location: 'b.old.1' })).location).toBe('b.old.1');
    // "old" is re-onboarded to v2 and activated: its v1 item is materialised first, then the org item moves on.
    items.put(locationItem(ORG, 'old', V1, 'retired'));
    items.put(orgItem(ORG, 'old', { old: { ...V2 }, new: { configVersion: 1, bucket: 'acme-new' } }));
    nowMs += 21_000; // the org route expired, the cached miss (10 s younger) has not
    const out = await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'], location: 'b.old.1' });
    expect(out.location).toBe('b.old.1');
    expect(new URL(out.urls[0]!.url).host).toBe('acme-bucket-1.s3.eu-west-1.amazonaws.com');
    expect(items.locationReads).toBe(2);
  });

  it('recovers when a broken org item is fixed (a failed route read is not kept in flight)', async () => {
    items.put(orgItem(ORG, 'prod', { prod: undefined }));
    const signer = createUrlSigner(deps(30));
    await expect(signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })).rejects.toBeInstanceOf(BackendNotFoundError);
    items.put(orgItem(ORG, 'prod', { prod: V2 }));
    expect((await signer.sign({ orgId: ORG, operation: 'download', keys: ['a'] })).location).toBe(L2);
  });
});

/** Where a response's URLs point: bucket (S3 virtual host) or CloudFront host, and the path. */
function target(out: SignResponse): { host: string; path: string }[] {
  return out.urls.map((u) => {
    const url = new URL(u.url);
    return { host: url.host, path: decodeURIComponent(url.pathname) };
  });
}

describe('Race: a download with the old location against a re-onboarding Activate', () => {
  const expected: Record<string, string> = {
    [L1]: 'acme-bucket-1.s3.eu-west-1.amazonaws.com',
    [L2]: 'acme-bucket-2.s3.us-west-2.amazonaws.com',
  };

  it('property: every answer is for the location asked (L1 always works), whatever the interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.boolean(),
        fc.constantFrom(0, 30),
        fc.array(fc.constantFrom<string | undefined>(L1, L2, undefined), { minLength: 4, maxLength: 12 }),
        async (s, materialised, ttl, asks) => {
          sts.resetHistory();
          items = new MemoryItems();
          items.put(orgItem(ORG, 'prod', { prod: V1 }));
          if (materialised) items.put(locationItem(ORG, 'prod', V1, 'serving'));
          const signer: UrlSigner = createUrlSigner(deps(ttl));
          // A warm signer (when ttl > 0): its route and L1 item were read before the Activate began.
          await signer.sign({ orgId: ORG, operation: 'download', keys: ['warm'], location: L1 });
          items.beforeRead = () => s.schedule(Promise.resolve(), 'read');
          const activate = (async () => {
            for (const step of reonboardSteps(items, ORG, 'prod', V1, V2)) {
              await s.schedule(Promise.resolve(), 'activate step');
              step();
            }
          })();
          const requests = asks.map(async (location) => {
            try {
              return { location, out: await signer.sign({ orgId: ORG, operation: 'download', keys: ['fw/a.bin'], ...(location ? { location } : {}) }) };
            } catch (err) {
              return { location, err };
            }
          });
          await s.waitFor(Promise.all([activate, ...requests]));
          for (const r of await Promise.all(requests)) {
            if (r.location === L1) {
              // The old location always works and always signs for itself, before, during and after.
              expect(r.err).toBeUndefined();
            }
            if (r.err) {
              // L2 before the flip is not a location yet (a pending config is never one): refused, not redirected.
              expect(r.location).toBe(L2);
              expect(r.err).toBeInstanceOf(ValidationError);
              continue;
            }
            const out = r.out!;
            if (r.location) expect(out.location).toBe(r.location);
            expect(target(out)).toEqual([
              { host: expected[out.location], path: `/${out.location === L1 ? 'one' : 'two'}/fw/a.bin` },
            ]);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('Org isolation: no location of org A ever yields a URL for org A when signing for org B', () => {
  it('property: for orgs A != B and any location value, B gets its own storage or a named refusal', async () => {
    const cfA = { type: 'cloudfront' as const, host: 'alpha-cdn.example', keyPairId: KEY_PAIR_ID, hashAlgorithm: 'SHA1' as const, privateKeySecretArn: SECRET_ARN };
    const aSpecs: ConfigSpec[] = [
      { configVersion: 1, bucket: 'alpha-store-1', prefix: 'alpha-p1/' },
      { configVersion: 2, bucket: 'alpha-store-2', prefix: 'alpha-p2/', download: cfA },
      { configVersion: 3, bucket: 'alpha-store-3', prefix: 'alpha-p3/', withLocation: true },
    ];
    const bSpecs: ConfigSpec[] = [
      { configVersion: 1, bucket: 'bravo-store-1', prefix: 'bravo-p1/' },
      { configVersion: 4, bucket: 'bravo-store-4', prefix: 'bravo-p4/', withLocation: true },
    ];
    const aLocations = aSpecs.map((s) => locationFor('prod', s.configVersion));
    const locationArb = fc.oneof(
      fc.constantFrom(...aLocations, 'default', locationFor('prod', 4), locationFor('prod', 1), locationFor('legacy', 1)),
      fc.stringMatching(LOCATION_PATTERN),
      fc.string({ maxLength: 50 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.uuid().map((u) => u.toLowerCase()),
        fc.uuid().map((u) => u.toLowerCase()),
        fc.constantFrom('default', 'custom', 'custom-legacy'),
        fc.constantFrom('default', 'custom'),
        fc.array(locationArb, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (a, b, aSetup, bSetup, locations, warmA) => {
          fc.pre(a !== b);
          items = new MemoryItems();
          // Org A: every kind of location it may have (serving, retired, offboarded, legacy), on its own storage.
          if (aSetup !== 'default') {
            items.put(orgItem(a, 'prod', { prod: aSpecs[2], legacy: { configVersion: 1, bucket: 'alpha-legacy', prefix: 'alpha-lg/' } }));
            if (aSetup === 'custom') {
              items.put(locationItem(a, 'prod', aSpecs[0]!, 'retired'));
              items.put(locationItem(a, 'prod', aSpecs[1]!, 'offboarded', { offboardedAt: '2026-12-01T00:00:00Z', offboardedBy: 'x' }));
              items.put(locationItem(a, 'prod', aSpecs[2]!, 'serving'));
            }
          }
          // Org B: default storage or a custom backend of its own.
          if (bSetup === 'custom') {
            items.put(orgItem(b, 'prod', { prod: bSpecs[1] }));
            items.put(locationItem(b, 'prod', bSpecs[0]!, 'retired'));
            items.put(locationItem(b, 'prod', bSpecs[1]!, 'serving'));
          }
          const signer = createUrlSigner(deps(30));
          if (warmA) for (const l of aLocations) await signer.sign({ orgId: a, operation: 'download', keys: ['k'], location: l }).catch(() => undefined);
          for (const location of locations) {
            for (const operation of ['download', 'multipart-abort'] as const) {
              const req =
                operation === 'download'
                  ? { orgId: b, operation, keys: ['k'], location }
                  : { orgId: b, operation, key: 'k', uploadId: 'u', location };
              let out: SignResponse;
              try {
                out = await signer.sign(req);
              } catch (err) {
                expect([ValidationError, LocationOffboardedError].some((E) => err instanceof E), String(err)).toBe(true);
                continue;
              }
              const text = JSON.stringify(out);
              expect(text).not.toMatch(/alpha-/);
              expect(text).not.toContain(`orgs/${a}/`);
              for (const t of target(out)) expect(t.host.startsWith('bravo-') || t.host.startsWith('peridio-binaries-test.')).toBe(true);
              if (out.storage === 'default') expect(target(out).every((t) => t.path.startsWith(`/orgs/${b}/`))).toBe(true);
            }
          }
          // Every location read was keyed by the asking org.
          expect(items.log.filter((k) => k.startsWith(`ORG#${a}|`) && !warmA)).toEqual([]);
        },
      ),
      { numRuns: 120 },
    );
  });
});
