/**
 * The signer keeps classic zod, config.ts and clients.ts out of its import graph (see handler.ts) so its
 * bundle stays under 1 MB. These tests guard that, and check that the rules it repeats instead of
 * importing still agree with the shared originals.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { build } from 'esbuild';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getOrgRecord } from '../../functions/shared/backend-records';
import { isLoopbackHost as sharedIsLoopbackHost } from '../../functions/shared/url-signers';
import {
  CLOUDFRONT_TTL as VALIDATION_CLOUDFRONT_TTL,
  hasControlCharacters as validationHasControl,
  isLoopbackHost as validationIsLoopbackHost,
  orgIdProblem as validationOrgIdProblem,
} from '../../functions/shared/validation';
import { hasControlCharacters, orgIdProblem } from '../../functions/signing/request';
import { readOrgRecord } from '../../functions/signing/routing';
import { CLOUDFRONT_TTL } from '../../functions/signing/sign-url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('Signer bundle', () => {
  it('stays under 1 MB minified and pulls in neither classic zod nor the unused service clients', async () => {
    const result = await build({
      entryPoints: [join(root, 'functions/signing/handler.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      minify: true,
      write: false,
      metafile: true,
      outfile: 'handler.mjs',
      logLevel: 'silent',
    });
    const bytes = result.outputFiles[0]!.contents.byteLength;
    expect(bytes).toBeLessThanOrEqual(1024 * 1024);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((f) => /node_modules\/zod\/v4\/classic\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /client-(iam|sfn|eventbridge)\//.test(f))).toEqual([]);
    expect(inputs.filter((f) => /functions\/shared\/(validation|config|clients)\.ts$/.test(f))).toEqual([]);
  });
});

describe('Rules the signer repeats instead of importing', () => {
  it('isLoopbackHost agrees with validation.ts', () => {
    const hosts = ['127.0.0.1:4580', '127.1.2.3:1', 'localhost:80', '[::1]:443', '127.0.0.1', 'cdn.example.com', '127.0.0.1.evil.com:80', 'd111.cloudfront.net:443'];
    for (const h of hosts) expect(sharedIsLoopbackHost(h)).toBe(validationIsLoopbackHost(h));
    fc.assert(fc.property(fc.string(), (h) => sharedIsLoopbackHost(h) === validationIsLoopbackHost(h)));
  });

  it('orgIdProblem and the control-character rule agree with validation.ts', () => {
    const ids = ['3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a', '3F2C9A4E-8B1D-4C6F-9E2A-7D5B1C0E4F6A', 'acme', '', 'x'.repeat(100)];
    for (const id of ids) expect(orgIdProblem(id)).toBe(validationOrgIdProblem(id));
    fc.assert(fc.property(fc.oneof(fc.uuid(), fc.string()), (id) => orgIdProblem(id) === validationOrgIdProblem(id)));
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => hasControlCharacters(s) === validationHasControl(s)));
  });

  it('the CloudFront TTL bounds agree with validation.ts', () => {
    expect(CLOUDFRONT_TTL).toEqual(VALIDATION_CLOUDFRONT_TTL);
  });

  it('readOrgRecord asks DynamoDB exactly what getOrgRecord asks', async () => {
    const ddb = mockClient(DynamoDBDocumentClient);
    try {
      ddb.on(GetCommand).resolves({ Item: { pk: 'ORG#x', sk: 'BACKENDS' } });
      const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
      const org = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
      expect(await readOrgRecord(client, 't', org)).toEqual(await getOrgRecord(client, 't', org));
      const [ours, theirs] = ddb.commandCalls(GetCommand).map((c) => c.args[0].input);
      expect(ours).toEqual(theirs);
    } finally {
      ddb.restore();
    }
  });
});
