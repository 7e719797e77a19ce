import { DeleteObjectCommand, ListObjectVersionsCommand, ListObjectsV2Command, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { sdkS3Objects } from './helpers/sdk-s3-objects';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { StepInput } from '#shared/records/workflow-context';
import { AssumeRoleDeniedError } from '#shared/errors';
import { cleanup, type CleanupDeps } from '../../functions/onboarding/cleanup/cleanup';
import { createHandler } from '../../functions/onboarding/cleanup/handler';
import { CANARY_PREFIX as PREFIX, NOW, stepInput } from './helpers/verify-fixtures';

const s3 = mockClient(S3Client);
afterAll(() => s3.restore());
function context(overrides: Partial<StepInput> = {}): StepInput {
  return stepInput({
    requestedBy: 'support',
    trust: { trusted: true, attempt: 3, waitSeconds: 0, lastCheck: 'trusted' },
    verifyUpload: { canaryKeys: [`${PREFIX}single-put.bin`, `${PREFIX}multipart.bin`] },
    ...overrides,
  });
}

let deps: CleanupDeps;
let assumed: number;

beforeEach(() => {
  s3.reset();
  assumed = 0;
  deps = {
    customerCredentials: async () => {
      assumed += 1;
      return { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'example-secret', sessionToken: 'token' };
    },
    s3: (region, credentials) => sdkS3Objects(new S3Client({ region, credentials })),
    clock: () => NOW,
  };
  s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: `${PREFIX}single-put.bin` }, { Key: `${PREFIX}multipart.bin` }] });
  s3.on(DeleteObjectCommand).resolves({});
});

function denied() {
  return new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' });
}

describe('Function: cleanup', () => {
  it("deletes this execution's canaries and reports them", async () => {
    const out = await cleanup(context(), deps);

    expect(out).toEqual({ outcome: 'cleaned', deleted: [`${PREFIX}single-put.bin`, `${PREFIX}multipart.bin`], remaining: [], notes: [] });
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: 'acme-firmware', Prefix: PREFIX });
    expect(s3).toHaveReceivedCommandTimes(DeleteObjectCommand, 2);
  });

  it('finds canaries by listing the prefix when VerifyUpload failed half-way and returned nothing', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: `${PREFIX}single-put.bin` }] });

    const out = await cleanup(context({ verifyUpload: undefined, error: { Error: 'StoragePermissionError', Cause: 'x' } }), deps);

    expect(out.outcome).toBe('cleaned');
    expect(out.deleted).toContain(`${PREFIX}single-put.bin`);
    expect(out.deleted).toContain(`${PREFIX}multipart.bin`);
  });

  it('never deletes anything outside its own canary prefix', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'fw/firmware.bin' }, { Key: `${PREFIX}single-put.bin` }] });

    const out = await cleanup(context({ verifyUpload: { canaryKeys: ['fw/firmware.bin'] } }), deps);

    expect(out.deleted).not.toContain('fw/firmware.bin');
    expect(s3).not.toHaveReceivedCommandWith(DeleteObjectCommand, { Key: 'fw/firmware.bin' });
  });

  it('still deletes the known canary names when listing is denied', async () => {
    s3.on(ListObjectsV2Command).rejects(denied());

    const out = await cleanup(context(), deps);

    expect(out.outcome).toBe('cleaned');
    expect(out.deleted).toHaveLength(2);
    expect(out.notes[0]).toContain('AccessDenied');
  });

  it('skips without assuming any role when trust never arrived', async () => {
    const out = await cleanup(context({ trust: { trusted: false, attempt: 9, waitSeconds: 300, lastCheck: 'denied' }, verifyUpload: undefined }), deps);

    expect(out.outcome).toBe('skipped');
    expect(assumed).toBe(0);
    expect(s3).not.toHaveReceivedCommand(DeleteObjectCommand);
  });

  it('skips quietly on the bare execution input (RecordConfig failed)', async () => {
    const out = await cleanup({ orgId: 'x', roleName: 'prod', upload: { bucket: 'b' }, error: { Error: 'ValidationError' } }, deps);

    expect(out.outcome).toBe('skipped');
  });

  it('does not throw when the customer role can no longer be assumed', async () => {
    deps.customerCredentials = async () => {
      throw new AssumeRoleDeniedError('AssumeRole denied on the customer role', 'customer');
    };

    const out = await cleanup(context(), deps);

    expect(out.outcome).toBe('incomplete');
    expect(out.remaining).toHaveLength(2);
    expect(out.notes[0]).toContain('AssumeRoleDeniedError');
  });

  it('does not throw when a delete is denied, and names what is left', async () => {
    s3.on(DeleteObjectCommand).rejects(denied());

    const out = await cleanup(context(), deps);

    expect(out.outcome).toBe('incomplete');
    expect(out.remaining).toHaveLength(2);
    expect(out.notes.join(' ')).toContain('s3:DeleteObject');
  });

  it('does not throw when S3 throttles', async () => {
    s3.on(DeleteObjectCommand).rejects(new S3ServiceException({ name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 }, message: 'Slow down' }));

    const out = await cleanup(context(), deps);

    expect(out.outcome).toBe('incomplete');
  });

  it('does not throw on garbage input', async () => {
    await expect(cleanup(null, deps)).resolves.toMatchObject({ outcome: 'skipped' });
    await expect(cleanup({ ...context(), upload: 42 }, deps)).resolves.toMatchObject({ outcome: 'skipped' });
    await expect(cleanup('nonsense', deps)).resolves.toMatchObject({ outcome: 'skipped' });
  });

  it('reports an unexpected failure instead of throwing', async () => {
    deps.s3 = () => {
      throw new Error('client construction failed');
    };

    await expect(cleanup(context(), deps)).resolves.toMatchObject({ outcome: 'incomplete', notes: [expect.stringContaining('client construction failed')] });
  });

  it('puts no credentials in its summary', async () => {
    s3.on(DeleteObjectCommand).rejects(denied());

    const out = await cleanup(context(), deps);

    expect(JSON.stringify(out)).not.toMatch(/example-secret|ASIAEXAMPLE|token/);
  });
});

describe('Handler: cleanup', () => {
  it('returns the summary and never rejects, even for bad input', async () => {
    const handler = createHandler(deps);

    await expect(handler({ error: { Error: 'TrustPolicyTimeoutError' } }, {} as never)).resolves.toMatchObject({ outcome: 'skipped' });
    await expect(handler(context(), {} as never)).resolves.toMatchObject({ outcome: 'cleaned' });
  });
});

describe('Function: cleanup (versioned buckets)', () => {
  const single = `${PREFIX}single-put.bin`;
  const multi = `${PREFIX}multipart.bin`;

  it('deletes every version and delete marker of the canaries by VersionId, found with ListObjectVersions', async () => {
    s3.on(ListObjectVersionsCommand).resolves({
      Versions: [{ Key: single, VersionId: 'v1' }, { Key: multi, VersionId: 'v2' }],
      DeleteMarkers: [{ Key: single, VersionId: 'm1' }],
    });

    const out = await cleanup(context(), deps);

    expect(out).toMatchObject({ outcome: 'cleaned', remaining: [] });
    expect(out.deleted.sort()).toEqual([multi, single].sort());
    expect(s3).toHaveReceivedCommandWith(ListObjectVersionsCommand, { Bucket: 'acme-firmware', Prefix: PREFIX });
    for (const [Key, VersionId] of [[single, 'v1'], [single, 'm1'], [multi, 'v2']]) {
      expect(s3).toHaveReceivedCommandWith(DeleteObjectCommand, { Key, VersionId });
    }
    expect(s3.commandCalls(DeleteObjectCommand).every((c) => c.args[0].input.VersionId !== undefined)).toBe(true);
  });

  it('without s3:DeleteObjectVersion hides each canary behind a delete marker, reports the versions left and never throws', async () => {
    s3.on(ListObjectVersionsCommand).rejects(denied());
    s3.on(DeleteObjectCommand).callsFake((input: { VersionId?: string }) => {
      if (input.VersionId) throw denied();
      return { DeleteMarker: true, VersionId: 'marker' };
    });

    const out = await cleanup(
      context({ verifyUpload: { canaryKeys: [single, multi], canaries: [{ key: single, bytes: 1, sha256: 'x', versionId: 'v1' }, { key: multi, bytes: 1, sha256: 'y', versionId: 'v2' }] } as never }),
      deps,
    );

    expect(out.outcome).toBe('incomplete');
    expect(out.remaining).toEqual([`${single} (version v1, behind a delete marker)`, `${multi} (version v2, behind a delete marker)`]);
    expect(out.notes.join(' ')).toContain('s3:DeleteObjectVersion');
    expect(out.notes.join(' ')).toContain('s3:ListBucketVersions');
  });

  it('reports versions it could not even list when S3 answers a plain delete with a delete marker', async () => {
    s3.on(ListObjectVersionsCommand).rejects(denied());
    s3.on(DeleteObjectCommand).resolves({ DeleteMarker: true, VersionId: 'marker' });

    const out = await cleanup(context(), deps);

    expect(out.outcome).toBe('incomplete');
    expect(out.remaining).toEqual([`${single} (its versions, behind a delete marker)`, `${multi} (its versions, behind a delete marker)`]);
  });
});
