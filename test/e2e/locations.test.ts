/**
 * Issue 11's acceptance, end to end through the local stack and the CLI (in-process `runCli`), with real
 * signature checks on every URL (the local S3 verifies SigV4 presigned URLs, the CloudFront edge verifies
 * signed URLs against the public key of the distribution the Key-Pair-Id names):
 *
 *   upload A to default storage; onboard and activate a custom backend on bucket 1; upload B; re-onboard
 *   the same backend to bucket 2 (another customer role); upload C; deactivate. After each change A, B and
 *   C download through the location their upload answered, byte for byte. Offboard bucket 1's config: B's
 *   download is LocationOffboardedError, A and C still download. `status` shows the states, `history` the
 *   retirements and the offboarding.
 *
 * Once with S3 downloads, once with CloudFront (one distribution and key pair per bucket, so a URL signed
 * for the wrong location's key would be refused by the edge).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/main';
import type { OnboardResult } from '../../cli/commands/onboard';
import type { StatusResult } from '../../cli/commands/records-view';
import type { SignResult } from '../../cli/commands/sign';
import type { HistoryResult } from '../../cli/commands/history';
import { locationFor } from '#shared/records/location-read';
import { capture } from './helpers/capture';
import { applyTrustPolicy, createCustomerBackend, newOrgId, pollUntil, startE2eStack, type CustomerBackend, type E2eStack } from './helpers/stack';

let e: E2eStack;
let keyDir: string;
beforeAll(async () => {
  e = await startE2eStack();
  keyDir = await mkdtemp(path.join(tmpdir(), 'e2e-locations-'));
});
afterAll(async () => {
  await e?.stop();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

async function cli(argv: string[]) {
  const c = capture(e.env);
  const code = await runCli(argv, c.io);
  return { code, stdout: c.stdout(), stderr: c.stderr(), json: <T>() => JSON.parse(c.stdout()) as T };
}

/** A binary as the internal service keeps it: its key, its bytes, and the location its upload answered. */
interface Stored {
  name: string;
  key: string;
  bytes: Buffer;
  location: string;
}

/** Signs an upload (it lands in the current route), PUTs the bytes, and keeps the location the signer answered. */
async function upload(org: string, name: string): Promise<Stored> {
  const key = `firmware/${name}-${randomBytes(3).toString('hex')}.fw`;
  const bytes = randomBytes(32 * 1024 + name.charCodeAt(0));
  const r = await cli(['sign', '--org', org, '--key', key, '--upload', '--json']);
  expect(r.stderr).toBe('');
  const up = r.json<SignResult>();
  expect(up.location).toMatch(/^(default|b\.[A-Za-z0-9_-]+\.\d+)$/);
  const u = up.urls[0]!;
  const put = await fetch(u.url, { method: 'PUT', headers: u.headers ?? {}, body: bytes });
  await put.arrayBuffer();
  expect(put.status).toBe(200);
  return { name, key, bytes, location: up.location! };
}

type Outcome = [name: string, result: string];

/** Downloads one binary through its location: `200 same bytes`, `<status> ...`, or the signer's error name. */
async function download(org: string, s: Stored): Promise<{ outcome: Outcome; signed?: SignResult }> {
  const r = await cli(['sign', '--org', org, '--key', s.key, '--location', s.location, '--json']);
  if (r.code !== 0) return { outcome: [s.name, r.json<{ error: { name: string } }>().error.name] };
  const signed = r.json<SignResult>();
  expect(signed.location).toBe(s.location);
  const d = signed.urls[0]!;
  const get = await fetch(d.url, { headers: d.headers ?? {} });
  const got = Buffer.from(await get.arrayBuffer());
  return { outcome: [s.name, get.status === 200 ? (got.equals(s.bytes) ? '200 same bytes' : '200 DIFFERENT bytes') : `${get.status}`], signed };
}

async function downloadAll(org: string, stored: Stored[]): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const s of stored) out.push((await download(org, s)).outcome);
  return out;
}

const allDownload = (stored: Stored[]): Outcome[] => stored.map((s) => [s.name, '200 same bytes']);

/** Waits until the signer (config cache: 1 s on this stack) routes uploads of the org to `location`. */
async function routedTo(org: string, location: string): Promise<void> {
  await pollUntil(
    async () => (await cli(['sign', '--org', org, '--key', 'firmware/probe.fw', '--upload', '--json'])).json<SignResult>().location === location,
    { what: `the signer to route org ${org} to ${location}`, intervalMs: 200 },
  );
}

interface Variant {
  label: string;
  roleName: string;
  /** Extra onboard flags for the config on this bucket (CloudFront: its own distribution and key pair). */
  downloadFlags(org: string, cb: CustomerBackend, n: number): Promise<string[]>;
  via: 's3' | 'cloudfront';
}

async function cloudFrontFlags(org: string, cb: CustomerBackend, n: number): Promise<string[]> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = path.join(keyDir, `${org}-${n}.pem`);
  await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  const keyPairId = `K${n}${org.replace(/-/g, '').slice(0, 12).toUpperCase()}`;
  e.stack.registerDistribution({ publicKeys: [{ id: keyPairId, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string }], bucket: cb.bucket });
  return ['--cloudfront-host', e.env.BINARY_BACKENDS_CLOUDFRONT_EDGE!, '--key-pair-id', keyPairId, '--private-key-file', keyFile];
}

const VARIANTS: Variant[] = [
  { label: 'S3 downloads', roleName: 'prod', via: 's3', downloadFlags: async () => [] },
  { label: 'CloudFront downloads', roleName: 'cdn', via: 'cloudfront', downloadFlags: cloudFrontFlags },
];

describe('E2E: binaries stay downloadable from where they live across every backend change (issue 11)', () => {
  for (const v of VARIANTS) {
    it(`${v.label}: default → bucket 1 → bucket 2 → deactivated → bucket 1 offboarded`, async () => {
      const org = newOrgId();
      const tag = org.slice(0, 8);
      const cb1 = await createCustomerBackend(e, { bucket: `e2e-loc1-${tag}`, roleName: `PeridioLoc1${tag}` });
      const cb2 = await createCustomerBackend(e, { bucket: `e2e-loc2-${tag}`, roleName: `PeridioLoc2${tag}` });
      const onboard = async (cb: CustomerBackend, n: number) => [
        'onboard', '--org', org, '--role-name', v.roleName, '--bucket', cb.bucket, '--region', cb.region, '--role-arn', cb.roleArn,
        ...(await v.downloadFlags(org, cb, n)),
      ];
      const loc1 = locationFor(v.roleName, 1);
      const loc2 = locationFor(v.roleName, 2);

      // 1. Before any backend: A lands in default storage.
      const a = await upload(org, 'A');
      expect(a.location).toBe('default');
      expect(await downloadAll(org, [a])).toEqual(allDownload([a]));

      // 2. Onboard and activate bucket 1 (the customer applies the trust policy while the workflow waits).
      const first = await cli([...(await onboard(cb1, 1)), '--json']);
      expect(first.stderr).toBe('');
      const started = first.json<OnboardResult>();
      await applyTrustPolicy(e, cb1.roleName, JSON.stringify(started.trustPolicy));
      expect((await e.stack.waitForExecution(started.executionArn)).status).toBe('SUCCEEDED');
      await routedTo(org, loc1);
      const b = await upload(org, 'B');
      expect(b.location).toBe(loc1);
      expect(await downloadAll(org, [a, b])).toEqual(allDownload([a, b]));
      const bViaLoc1 = (await download(org, b)).signed!;
      expect(bViaLoc1.via).toBe(v.via);

      // 3. Re-onboard the same backend to bucket 2 with another customer role (it trusts the same platform role).
      await applyTrustPolicy(e, cb2.roleName, JSON.stringify(started.trustPolicy));
      const re = await cli([...(await onboard(cb2, 2)), '--follow', '--json']);
      expect(re.stderr).toBe('');
      expect(re.json<OnboardResult>()).toMatchObject({ configVersion: 2, final: { executionStatus: 'SUCCEEDED' } });
      await routedTo(org, loc2);
      const c = await upload(org, 'C');
      expect(c.location).toBe(loc2);
      expect(await downloadAll(org, [a, b, c])).toEqual(allDownload([a, b, c]));
      // Without its location, B would be looked for in bucket 2 (the current route), where it is not.
      const current = (await cli(['sign', '--org', org, '--key', b.key, '--json'])).json<SignResult>();
      expect(current.location).toBe(loc2);
      expect((await fetch(current.urls[0]!.url, { headers: current.urls[0]!.headers ?? {} })).status).not.toBe(200);

      const mid = (await cli(['status', '--org', org, '--json'])).json<StatusResult>();
      expect(mid.backends[0]!.configs.map((x) => [x.configVersion, x.state, x.location, x.bucket])).toEqual([
        [1, 'retired', loc1, cb1.bucket],
        [2, 'serving', loc2, cb2.bucket],
      ]);
      expect(mid.backends[0]!.configs[0]).toMatchObject({ retiredReason: 'replaced', replacedBy: loc2 });

      // 4. Deactivate: uploads go to default storage again; A, B and C still download from where they live.
      expect((await cli(['deactivate', '--org', org, '--confirm'])).code).toBe(0);
      await routedTo(org, 'default');
      expect(await downloadAll(org, [a, b, c])).toEqual(allDownload([a, b, c]));

      const retired = await cli(['status', '--org', org, '--json']);
      expect(retired.json<StatusResult>().backends[0]!.configs.map((x) => [x.configVersion, x.state, x.retiredReason])).toEqual([
        [1, 'retired', 'replaced'],
        [2, 'retired', 'deactivated'],
      ]);

      // 5. Offboard bucket 1's config. A dry run changes nothing; the real one makes B unreachable for good.
      const dry = await cli(['offboard', '--org', org, '--backend', v.roleName, '--config-version', '1', '--dry-run', '--json']);
      expect(dry.stderr).toBe('');
      expect(dry.code).toBe(0);
      expect(await downloadAll(org, [b])).toEqual(allDownload([b]));
      const off = await cli(['offboard', '--org', org, '--backend', v.roleName, '--config-version', '1', '--reason', 'bucket 1 closed', '--yes', '--json']);
      expect(off.stderr).toBe('');
      expect(off.code).toBe(0);
      const offboarded = off.json<{ offboarded: { location: string }[]; platformRole: { action: string }; keysScheduledForDeletion: { outcome: string }[] }>();
      expect(offboarded.offboarded.map((x) => x.location)).toEqual([loc1]);
      // Config 2 (retired) still needs the platform role; only config 1's CloudFront key goes.
      expect(offboarded.platformRole.action).toBe('kept');
      expect(offboarded.keysScheduledForDeletion.map((k) => k.outcome)).toEqual(v.via === 'cloudfront' ? ['scheduled'] : []);

      // Warm signers cache a location for CONFIG_CACHE_TTL_SECONDS (1 s here).
      await pollUntil(async () => (await download(org, b)).outcome[1] === 'LocationOffboardedError', {
        what: `${loc1} to answer LocationOffboardedError`,
        intervalMs: 200,
      });
      expect(await downloadAll(org, [a, b, c])).toEqual([
        ['A', '200 same bytes'],
        ['B', 'LocationOffboardedError'],
        ['C', '200 same bytes'],
      ]);
      const human = await cli(['sign', '--org', org, '--key', b.key, '--location', b.location]);
      expect(human.code).toBe(1);
      expect(human.stderr).toContain('LocationOffboardedError');

      // 6. What support and operators read.
      const status = (await cli(['status', '--org', org, '--json'])).json<StatusResult>();
      expect(status.storage).toBe('default');
      expect(status.backends[0]!.configs.map((x) => [x.configVersion, x.state, x.location])).toEqual([
        [1, 'offboarded', loc1],
        [2, 'retired', loc2],
      ]);
      expect(status.backends[0]!.configs[0]).toMatchObject({ offboardReason: 'bucket 1 closed', offboardedBy: expect.stringMatching(/^arn:aws:(iam|sts)::111111111111:/) });
      const statusText = (await cli(['status', '--org', org])).stdout;
      expect(statusText).toMatch(new RegExp(`v1\\s+offboarded\\s+${loc1.replace(/\./g, '\\.')}`));
      expect(statusText).toMatch(new RegExp(`v2\\s+retired\\s+${loc2.replace(/\./g, '\\.')}`));

      const h = (await cli(['history', '--org', org, '--json'])).json<HistoryResult>();
      expect(h.executions.map((x) => [x.configVersion, x.status])).toEqual([
        [1, 'SUCCEEDED'],
        [2, 'SUCCEEDED'],
      ]);
      expect(h.changes.map((x) => [x.step, x.kind, x.locations])).toEqual([
        ['Activate', 'retired', [loc1]],
        ['Deactivate', 'retired', [loc2]],
        ['Offboard', 'offboarded', [loc1]],
      ]);
      expect(h.changes[2]).toMatchObject({ reason: 'bucket 1 closed', platformRole: 'kept' });
      // Who: the re-onboarding's requester (from its execution), the deactivation's and the offboarding's callers.
      for (const x of h.changes) expect(x.by).toMatch(/^arn:aws:(iam|sts)::111111111111:/);
      const historyText = (await cli(['history', '--org', org])).stdout;
      expect(historyText).toContain('Storage changes');
      expect(historyText).toMatch(new RegExp(`offboarded\\s+${loc1.replace(/\./g, '\\.')} of backend "${v.roleName}"`));
    });
  }

  it("never signs for another org's location: an org without that location gets ValidationError naming --location", async () => {
    const other = newOrgId();
    const r = await cli(['sign', '--org', other, '--key', 'firmware/x.fw', '--location', locationFor('prod', 1)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--location: ');
    expect(r.stdout).toBe('');
  });
});
