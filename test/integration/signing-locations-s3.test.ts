/**
 * Storage locations against @20minutes/s3rver, which validates SigV4 (as test/integration/signing-s3.test.ts):
 * objects uploaded through one location stay downloadable through it after the route moves on (activation,
 * re-onboarding, deactivation), an offboarded location is refused, and a multipart upload started in one
 * location is continued and completed there. STS is a fake that mints a key pair per AssumeRole and
 * registers it with s3rver, so every URL is checked against exactly the credentials the signer got; the
 * records table is in memory (MemoryItems), written as Activate and Deactivate write it (docs/locations.md).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocationOffboardedError } from '#shared/errors';
import { locationFor } from '#shared/identifiers';
import { locationSk } from '#shared/records/location-read';
import { createUrlSigner, type SignResponse, type UrlSigner } from '../../functions/signing/sign-url';
import { CUSTOMER_ACCOUNT, MemoryItems, locationItem, orgItem, reonboardSteps, type ConfigSpec } from '../unit/helpers/locations';
import { sdkSignerDeps } from '../unit/helpers/sdk-signer-deps';
import { mintKeysOnAssumeRole, startSignedS3rver, type SignedS3rver } from './helpers/signed-s3rver';

const DEFAULT_BUCKET = 'peridio-binaries-loc';
const SIGNER_ROLE = 'arn:aws:iam::111111111111:role/binary-backends-it-default-storage-signer';
const ROLE_1 = `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PeridioBinariesBucket1`;
const ROLE_2 = `arn:aws:iam::${CUSTOMER_ACCOUNT}:role/PeridioBinariesBucket2`;
const V1: ConfigSpec = { configVersion: 1, bucket: 'loc-bucket-1', region: 'us-east-1', prefix: 'one/', customerRoleArn: ROLE_1, withLocation: true };
const V2: ConfigSpec = { configVersion: 2, bucket: 'loc-bucket-2', region: 'us-east-1', prefix: 'two/', customerRoleArn: ROLE_2, withLocation: true };
const L1 = locationFor('prod', 1);
const L2 = locationFor('prod', 2);

const sts = mockClient(STSClient);
let s3: SignedS3rver;
let items: MemoryItems;

function newSigner(): UrlSigner {
  return createUrlSigner(
    sdkSignerDeps({
      items,
      tableName: 'it',
      clock: () => new Date(),
      // TTL 0: every request sees the records as they are now (warm-cache behaviour is unit-tested).
      settings: { defaultBucket: DEFAULT_BUCKET, defaultBucketRegion: 'us-east-1', defaultSignerRoleArn: SIGNER_ROLE, configCacheTtlSeconds: 0 },
    }),
  );
}

beforeAll(async () => {
  s3 = await startSignedS3rver({ buckets: [DEFAULT_BUCKET, V1.bucket, V2.bucket], customerAccountId: CUSTOMER_ACCOUNT, dirPrefix: 'signing-loc-it-' });
});

afterAll(async () => {
  await s3?.stop();
});

beforeEach(() => {
  sts.reset();
  items = new MemoryItems();
  mintKeysOnAssumeRole(sts, s3, CUSTOMER_ACCOUNT, () => Date.now() + 3600_000);
});

async function upload(signer: UrlSigner, orgId: string, key: string, body: Buffer): Promise<string> {
  const out = await signer.sign({ orgId, operation: 'upload', keys: [key] });
  expect((await fetch(out.urls[0]!.url, { method: 'PUT', body })).status).toBe(200);
  return out.location;
}

async function download(signer: UrlSigner, orgId: string, key: string, location?: string): Promise<{ out: SignResponse; status: number; body: Buffer }> {
  const out = await signer.sign({ orgId, operation: 'download', keys: [key], ...(location ? { location } : {}) });
  const res = await fetch(out.urls[0]!.url);
  return { out, status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

async function stored(bucket: string, key: string): Promise<Buffer> {
  const obj = await s3.adminS3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await obj.Body!.transformToByteArray());
}

/** Activate from default storage: prod v1 serves (its item written as Activate's step 3 writes it). */
function activateV1(orgId: string): void {
  items.put(orgItem(orgId, 'prod', { prod: V1 }));
  items.put(locationItem(orgId, 'prod', V1, 'serving'));
}

/** Deactivate: the org goes back to default storage and the serving location is retired (docs/locations.md). */
function deactivate(orgId: string, serving: ConfigSpec): void {
  items.put(orgItem(orgId, undefined, { prod: serving }));
  items.update(`ORG#${orgId}`, locationSk(locationFor('prod', serving.configVersion)), { state: 'retired', retiredReason: 'deactivated', retiredBy: 'support' });
}

describe('Integration: binaries stay downloadable through their location', () => {
  it('A (default), B (bucket 1), C (bucket 2): every one downloads through its location after every change', async () => {
    const orgId = randomUUID();
    const signer = newSigner();
    const bytes = { A: randomBytes(3000), B: randomBytes(3001), C: randomBytes(3002) };
    const where: Record<string, string> = {};
    const checkAll = async (when: string) => {
      for (const [name, location] of Object.entries(where)) {
        const got = await download(signer, orgId, `fw/${name}.bin`, location);
        expect(got.status, `${name} ${when}`).toBe(200);
        expect(got.body.equals(bytes[name as keyof typeof bytes]), `${name} ${when}`).toBe(true);
        expect(got.out.location).toBe(location);
      }
    };

    where.A = await upload(signer, orgId, 'fw/A.bin', bytes.A);
    expect(where.A).toBe('default');
    activateV1(orgId);
    await checkAll('after activation');
    // Without its location, A's URL now points at bucket 1, where it is not.
    expect((await download(signer, orgId, 'fw/A.bin')).status).toBe(404);

    where.B = await upload(signer, orgId, 'fw/B.bin', bytes.B);
    expect(where.B).toBe(L1);
    expect((await stored(V1.bucket, 'one/fw/B.bin')).equals(bytes.B)).toBe(true);
    for (const step of reonboardSteps(items, orgId, 'prod', V1, V2)) step();
    await checkAll('after re-onboarding to bucket 2');
    expect((await download(signer, orgId, 'fw/B.bin')).status).toBe(404);

    where.C = await upload(signer, orgId, 'fw/C.bin', bytes.C);
    expect(where.C).toBe(L2);
    deactivate(orgId, V2);
    await checkAll('after deactivation');
    expect((await upload(signer, orgId, 'fw/D.bin', randomBytes(10)))).toBe('default');

    // A cold signer downloads B after the move through bucket 1's own customer role, with the org as ExternalId.
    sts.resetHistory();
    expect((await download(newSigner(), orgId, 'fw/B.bin', L1)).body.equals(bytes.B)).toBe(true);
    const assumed = sts.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input);
    expect(assumed.filter((i) => i.RoleArn!.includes(`:${CUSTOMER_ACCOUNT}:`))).toEqual([expect.objectContaining({ RoleArn: ROLE_1, ExternalId: orgId })]);

    // Offboard bucket 1: B is refused by name, A and C still download.
    items.update(`ORG#${orgId}`, locationSk(L1), { state: 'offboarded', offboardedAt: '2026-12-02T08:00:00Z', offboardedBy: 'alice', offboardReason: 'bucket retired' });
    await expect(download(signer, orgId, 'fw/B.bin', L1)).rejects.toBeInstanceOf(LocationOffboardedError);
    delete where.B;
    await checkAll('after offboarding bucket 1');
  });

  it('race: downloads with the old location in flight during an Activate all fetch the old bytes', async () => {
    const orgId = randomUUID();
    const signer = newSigner();
    items.put(orgItem(orgId, 'prod', { prod: { ...V1, withLocation: false } })); // written before locations: no item yet
    const body = randomBytes(2048);
    expect(await upload(signer, orgId, 'fw/old.bin', body)).toBe(L1);
    // Each read yields to the event loop, so the Activate's writes land between the signer's reads.
    items.beforeRead = () => new Promise((resolve) => setImmediate(resolve));
    // A wave of downloads is started before each step (and after the last): their reads straddle the writes.
    const downloads: ReturnType<typeof download>[] = [];
    const wave = () => downloads.push(...Array.from({ length: 4 }, () => download(signer, orgId, 'fw/old.bin', L1)));
    for (const step of reonboardSteps(items, orgId, 'prod', V1, V2)) {
      wave();
      await new Promise((resolve) => setImmediate(resolve));
      step();
    }
    wave();
    for (const got of await Promise.all(downloads)) {
      expect(got.out.location).toBe(L1);
      expect(got.status).toBe(200);
      expect(got.body.equals(body)).toBe(true);
    }
    // Some requests read the org item after the flip, and so resolved L1 through its (new) location item.
    expect(items.locationReads).toBeGreaterThan(0);
  });

  it('continues and completes a multipart upload in the location it started in, after the route moved', async () => {
    const orgId = randomUUID();
    const signer = newSigner();
    activateV1(orgId);
    const start = await signer.sign({ orgId, operation: 'multipart-start', key: 'big.bin', parts: 2, firstPart: 1 });
    expect(start.location).toBe(L1);
    for (const step of reonboardSteps(items, orgId, 'prod', V1, V2)) step();
    // A later page (part 2, as a caller paging through would ask for it) after the route moved: still L1.
    const page = await signer.sign({ orgId, operation: 'multipart-start', key: 'big.bin', parts: 2, firstPart: 2, uploadId: start.uploadId, location: L1 });
    expect(page.location).toBe(L1);
    const parts = [randomBytes(5 * 1024 * 1024), randomBytes(777)];
    const etags: { partNumber: number; etag: string }[] = [];
    for (const u of [start.urls[0]!, page.urls[0]!]) {
      const res = await fetch(u.url, { method: 'PUT', body: parts[u.partNumber! - 1]! });
      expect(res.status).toBe(200);
      etags.push({ partNumber: u.partNumber!, etag: res.headers.get('etag')! });
    }
    const done = await signer.sign({ orgId, operation: 'multipart-complete', key: 'big.bin', uploadId: start.uploadId, parts: etags, location: L1 });
    expect(done.location).toBe(L1);
    expect((await stored(V1.bucket, 'one/big.bin')).equals(Buffer.concat(parts))).toBe(true);
    const got = await download(signer, orgId, 'big.bin', L1);
    expect(got.body.equals(Buffer.concat(parts))).toBe(true);
  });
});
