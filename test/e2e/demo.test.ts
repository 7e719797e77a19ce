/**
 * `binary-backends demo --json`: the whole story in one process (its own local stack), with a shorter
 * WaitForTrust than `npm run demo` uses. The summary must be the only thing on stdout, so it parses.
 */
import { describe, expect, it } from 'vitest';
import { runDemo, type DemoSummary } from '../../cli/commands/demo';
import { runCli } from '../../cli/main';
import { capture } from './helpers/capture';

describe('E2E: the demo', () => {
  it('onboards S3 and CloudFront backends, uploads and downloads byte for byte, and prints only a JSON summary', async () => {
    const c = capture({});
    const code = await runDemo({ json: true, waitForTrustMs: 200 }, c.io, runCli);
    expect(c.stderr()).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(c.stdout()) as DemoSummary;
    expect(summary.ok).toBe(true);
    expect(summary.backends.map((b) => [b.downloadVia, b.status, b.upload?.httpStatus, b.download?.via, b.download?.bytesMatch])).toEqual([
      ['s3', 'ACTIVE', 200, 's3', true],
      ['cloudfront', 'ACTIVE', 200, 'cloudfront', true],
    ]);
    expect(summary.backends[1]!.download!.unsignedStatus).toBe(403);
    for (const b of summary.backends) expect(b.trustChecksBeforeTrust).toBeGreaterThanOrEqual(1);
    // After activation, uploads land in each org's backend (the signer's route cache has caught up).
    expect(summary.backends.map((b) => b.upload?.location)).toEqual(['b.prod.1', 'b.cdn.1']);
    // A binary uploaded to default storage during org A's gap still downloads after activation, through its location.
    expect(summary.gapUpload).toMatchObject({ location: 'default', uploadStatus: 200, downloadLocation: 'default', downloadStatus: 200, bytesMatch: true });
  }, 60_000);
});
