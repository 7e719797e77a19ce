/**
 * The signer resolves S3 bucket endpoints from S3's rule set without an S3Client (s3-endpoint.ts). The
 * oracle is an S3Client itself: the request it would send for HeadObject, captured before sending.
 */
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { HttpRequest } from '@smithy/protocol-http';
import { describe, expect, it } from 'vitest';
import { configuredS3Endpoint, resolveS3Endpoint, type S3BucketEndpoint } from '#shared/s3-endpoint';

const ENV_NAMES = [
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_USE_FIPS_ENDPOINT',
  'AWS_USE_DUALSTACK_ENDPOINT',
];

/** What S3Client addresses for HeadObject(bucket, 'k') in `region` with exactly `env` set. */
async function sdkEndpoint(bucket: string, region: string, env: Record<string, string>): Promise<S3BucketEndpoint | { error: string }> {
  const saved = Object.fromEntries(ENV_NAMES.map((n) => [n, process.env[n]]));
  for (const n of ENV_NAMES) delete process.env[n];
  Object.assign(process.env, env);
  const client = new S3Client({ region, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  try {
    const command = new HeadObjectCommand({ Bucket: bucket, Key: 'k' });
    let captured: HttpRequest | undefined;
    command.middlewareStack.add(
      () => async (args) => {
        captured = args.request as HttpRequest;
        throw new Error('captured');
      },
      { step: 'build', priority: 'low', name: 'captureEndpointForTest' },
    );
    const failure = await command
      .resolveMiddleware(client.middlewareStack, client.config, undefined)(command)
      .then(() => 'sent', (err: Error) => err.message);
    if (!captured) return { error: failure };
    return {
      protocol: captured.protocol === 'http:' ? 'http:' : 'https:',
      hostname: captured.hostname,
      port: captured.port ?? undefined,
      basePath: captured.path.slice(0, -'/k'.length),
    };
  } finally {
    client.destroy();
    for (const n of ENV_NAMES) delete process.env[n];
    for (const [n, v] of Object.entries(saved)) if (v !== undefined) process.env[n] = v;
  }
}

const CASES: [string, string, string, Record<string, string>][] = [
  ['a plain bucket in eu-west-1', 'acme-firmware', 'eu-west-1', {}],
  ['us-east-1 (regional, not the global endpoint)', 'acme-firmware', 'us-east-1', {}],
  ['a dotted bucket over https (path style)', 'acme.firmware', 'us-east-1', {}],
  ['a dotted bucket in ap-southeast-2', 'fw.acme.example.com', 'ap-southeast-2', {}],
  ['a bucket with digits and dashes in sa-east-1', '123-fw-4', 'sa-east-1', {}],
  ['China (aws-cn partition)', 'acme-firmware', 'cn-north-1', {}],
  ['GovCloud', 'acme-firmware', 'us-gov-west-1', {}],
  ['FIPS', 'acme-firmware', 'us-east-2', { AWS_USE_FIPS_ENDPOINT: 'true' }],
  ['dualstack', 'acme-firmware', 'eu-central-1', { AWS_USE_DUALSTACK_ENDPOINT: 'true' }],
  ['FIPS and dualstack', 'acme-firmware', 'us-west-2', { AWS_USE_FIPS_ENDPOINT: 'true', AWS_USE_DUALSTACK_ENDPOINT: 'true' }],
  ['the local stack (AWS_ENDPOINT_URL_S3 on 127.0.0.1: path style)', 'peridio-binaries-local', 'us-east-1', { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' }],
  ['a dotted bucket on the local stack', 'acme.firmware', 'us-east-1', { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569' }],
  ['AWS_ENDPOINT_URL without an S3-specific one', 'b-1', 'us-east-1', { AWS_ENDPOINT_URL: 'http://127.0.0.1:4570' }],
  ['AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL', 'b-1', 'us-east-1', { AWS_ENDPOINT_URL: 'http://127.0.0.1:4570', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4571' }],
  ['a localhost endpoint (virtual-hosted: why the stack uses 127.0.0.1)', 'b-1', 'us-east-1', { AWS_ENDPOINT_URL_S3: 'http://localhost:4571' }],
  ['an https custom endpoint with a path', 'acme-firmware', 'eu-west-1', { AWS_ENDPOINT_URL_S3: 'https://s3.example.internal:8443/base' }],
  ['configured endpoints ignored', 'acme-firmware', 'eu-west-1', { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4569', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }],
];

describe('Function: resolveS3Endpoint', () => {
  it.each(CASES)('answers what S3Client addresses: %s', async (_name, bucket, region, env) => {
    const expected = await sdkEndpoint(bucket, region, env);
    let ours: S3BucketEndpoint | { error: string };
    try {
      ours = resolveS3Endpoint(bucket, region, env);
    } catch (err) {
      ours = { error: (err as Error).message };
    }
    expect(ours).toEqual(expected);
  });

  it('reads AWS_ENDPOINT_URL_S3 before AWS_ENDPOINT_URL, and neither when told to ignore them', () => {
    expect(configuredS3Endpoint({ AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:2' })).toBe('http://127.0.0.1:2/');
    expect(configuredS3Endpoint({ AWS_ENDPOINT_URL: 'http://127.0.0.1:1' })).toBe('http://127.0.0.1:1/');
    expect(configuredS3Endpoint({ AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toBeUndefined();
  });

  it('refuses a FIPS flag that is neither true nor false, as the SDK does', () => {
    expect(() => resolveS3Endpoint('b-1', 'us-east-1', { AWS_USE_FIPS_ENDPOINT: 'yes' })).toThrow(/AWS_USE_FIPS_ENDPOINT/);
  });
});
