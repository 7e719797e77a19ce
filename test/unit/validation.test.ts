import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../../functions/shared/errors';
import {
  bucketProblem,
  cloudFrontHostProblem,
  keyPairIdProblem,
  parseExecutionInput,
  parseOnboardingRequest,
  regionProblem,
  roleArnProblem,
  roleNameProblem,
} from '../../functions/shared/validation';
import { pemBody, runtimePrivateKeyPem } from '../fixtures/private-key';

const ORG = '3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a';
const valid = {
  orgId: ORG,
  roleName: 'prod',
  upload: { bucket: 'acme-firmware', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:role/PeridioBinaries' },
};

function validationMessage(input: unknown): string {
  try {
    parseOnboardingRequest(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as Error).message;
  }
  throw new Error('expected a ValidationError');
}

describe('Function: parseOnboardingRequest', () => {
  it('accepts a minimal S3 request and defaults the download to S3', () => {
    // Act
    const parsed = parseOnboardingRequest(valid);

    // Assess
    expect(parsed.download).toEqual({ type: 's3' });
    expect(parsed.upload.bucket).toBe('acme-firmware');
  });

  it('accepts a CloudFront request and defaults the hash algorithm to SHA1', () => {
    const parsed = parseOnboardingRequest({
      ...valid,
      download: {
        type: 'cloudfront',
        host: 'd1234567890.cloudfront.net',
        keyPairId: 'K2JCJMDEHXQW5F',
        privateKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:binary-backends/dev/cloudfront/x-AbCdEf',
        ttlSeconds: 900,
      },
    });
    expect(parsed.download).toMatchObject({ type: 'cloudfront', hashAlgorithm: 'SHA1', ttlSeconds: 900 });
  });

  it('names every bad field and its rule in one message', () => {
    const message = validationMessage({ ...valid, roleName: 'waytoolongname', upload: { ...valid.upload, region: 'mars-1' } });
    expect(message).toContain('roleName: must be 1-10 characters');
    expect(message).toContain('upload.region: must be an AWS region code');
  });

  it('refuses an uppercase org ID and says how to write it', () => {
    expect(validationMessage({ ...valid, orgId: ORG.toUpperCase() })).toBe(`orgId: must be a lowercase UUID; use "${ORG}"`);
  });

  it('refuses a key group ID where the public key ID belongs, and says which ID to send', () => {
    const message = validationMessage({
      ...valid,
      download: { type: 'cloudfront', host: 'cdn.example.com', keyPairId: ORG, privateKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:k' },
    });
    expect(message).toMatch(/download\.keyPairId: looks like a CloudFront key group ID.*public key ID/);
  });

  it('refuses a PEM anywhere in the input without echoing it', () => {
    const pem = runtimePrivateKeyPem();
    const message = validationMessage({ ...valid, download: { type: 'cloudfront', privateKeySecretArn: pem } });
    expect(message).toContain('download.privateKeySecretArn: key material is not accepted here');
    expect(message).not.toContain(pemBody(pem));
  });

  it('refuses unknown fields, so a misspelt option is not silently ignored', () => {
    expect(validationMessage({ ...valid, upload: { ...valid.upload, bucketName: 'x' } })).toBe('upload.bucketName: is not a known field');
  });

  it('says which required fields are missing', () => {
    expect(validationMessage({ orgId: ORG, roleName: 'prod', upload: {} })).toBe(
      'upload.bucket: is required; upload.region: is required; upload.roleArn: is required',
    );
  });

  it('bounds the CloudFront TTL to 60 s .. 7 days', () => {
    const base = { type: 'cloudfront', host: 'cdn.example.com', keyPairId: 'K2JCJMDEHXQW5F', privateKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:k' };
    expect(validationMessage({ ...valid, download: { ...base, ttlSeconds: 59 } })).toBe('download.ttlSeconds: must be at least 60');
    expect(validationMessage({ ...valid, download: { ...base, ttlSeconds: 604_801 } })).toBe('download.ttlSeconds: must be at most 604800');
  });
});

describe('Function: parseExecutionInput', () => {
  it('requires the config version and requester that the starter adds', () => {
    expect(() => parseExecutionInput(valid)).toThrow(ValidationError);
    expect(() => parseExecutionInput(valid)).toThrow(/configVersion: is required/);
    expect(() => parseExecutionInput(valid)).toThrow(/requestedBy: is required/);
  });

  it('accepts what the starter produces', () => {
    expect(parseExecutionInput({ ...valid, configVersion: 3, requestedBy: 'arn:aws:iam::111111111111:user/support' }).configVersion).toBe(3);
  });
});

describe('Function: bucketProblem', () => {
  it.each([
    ['ab', /3-63 characters/],
    ['Acme', /lowercase letters/],
    ['-acme', /begin and end/],
    ['acme..fw', /two adjacent periods/],
    ['192.168.5.4', /IP address/],
    ['xn--acme', /reserved prefix 'xn--'/],
    ['sthree-acme', /reserved prefix 'sthree-'/],
    ['amzn-s3-demo-bucket', /reserved prefix 'amzn-s3-demo-'/],
    ['acme-s3alias', /reserved suffix '-s3alias'/],
    ['acme--ol-s3', /reserved suffix '--ol-s3'/],
    ['acme.mrap', /reserved suffix '.mrap'/],
    ['acme--x-s3', /reserved suffix '--x-s3'/],
    ['acme--table-s3', /reserved suffix '--table-s3'/],
  ])('refuses %s', (name, rule) => {
    expect(bucketProblem(name)).toMatch(rule);
  });

  it('accepts every name built from the allowed alphabet that avoids the reserved forms', () => {
    const inner = fc.stringMatching(/^[a-z0-9-]{1,61}$/);
    fc.assert(
      fc.property(fc.constantFrom('a', 'z', '0', '9'), inner, fc.constantFrom('a', '7'), (first, middle, last) => {
        const name = `${first}${middle}${last}`;
        fc.pre(!/^(xn--|sthree-|amzn-s3-demo-)/.test(name) && !/(-s3alias|--ol-s3|--x-s3|--table-s3)$/.test(name));
        expect(bucketProblem(name)).toBeUndefined();
      }),
    );
  });
});

describe('Function: roleNameProblem', () => {
  it('accepts every 1-10 character name of IAM role-name characters', () => {
    fc.assert(fc.property(fc.stringMatching(/^[A-Za-z0-9+=,.@_-]{1,10}$/), (n) => {
      expect(roleNameProblem(n)).toBeUndefined();
    }));
  });

  it('refuses spaces, slashes and names over 10 characters', () => {
    expect(roleNameProblem('a b')).toMatch(/may only use/);
    expect(roleNameProblem('a/b')).toMatch(/may only use/);
    expect(roleNameProblem('abcdefghijk')).toMatch(/1-10 characters/);
    expect(roleNameProblem('')).toMatch(/1-10 characters/);
  });
});

describe('Function: roleArnProblem', () => {
  it('accepts role ARNs with and without a path, in every partition', () => {
    expect(roleArnProblem('arn:aws:iam::123456789012:role/PeridioBinaries')).toBeUndefined();
    expect(roleArnProblem('arn:aws:iam::123456789012:role/service/peridio/PeridioBinaries')).toBeUndefined();
    expect(roleArnProblem('arn:aws-us-gov:iam::123456789012:role/x')).toBeUndefined();
  });

  it('refuses session ARNs, user ARNs and short account IDs', () => {
    expect(roleArnProblem('arn:aws:sts::123456789012:assumed-role/R/s')).toMatch(/not an STS session ARN/);
    expect(roleArnProblem('arn:aws:iam::123456789012:user/alice')).toMatch(/must be an IAM role ARN/);
    expect(roleArnProblem('arn:aws:iam::12345:role/x')).toMatch(/must be an IAM role ARN/);
  });
});

describe('Function: regionProblem', () => {
  it.each(['us-east-1', 'eu-central-2', 'ap-southeast-4', 'us-gov-west-1', 'cn-north-1', 'il-central-1', 'mx-central-1'])('accepts %s', (r) => {
    expect(regionProblem(r)).toBeUndefined();
  });
  it.each(['useast1', 'US-EAST-1', 'eu-west', 'mars-north-1', ''])('refuses %s', (r) => {
    expect(regionProblem(r)).toMatch(/AWS region code/);
  });
});

describe('Function: cloudFrontHostProblem', () => {
  it('accepts distribution domains, custom domains and loopback edges', () => {
    expect(cloudFrontHostProblem('d1234567890.cloudfront.net')).toBeUndefined();
    expect(cloudFrontHostProblem('cdn.example.com')).toBeUndefined();
    expect(cloudFrontHostProblem('127.0.0.1:4575')).toBeUndefined();
  });
  it('refuses schemes, paths and non-loopback ports', () => {
    expect(cloudFrontHostProblem('https://d1.cloudfront.net')).toMatch(/without a scheme/);
    expect(cloudFrontHostProblem('d1.cloudfront.net/x')).toMatch(/without a path/);
    expect(cloudFrontHostProblem('cdn.example.com:8080')).toMatch(/domain name/);
  });
});

describe('Function: keyPairIdProblem', () => {
  it('accepts public key IDs and legacy key pair IDs', () => {
    expect(keyPairIdProblem('K2JCJMDEHXQW5F')).toBeUndefined();
    expect(keyPairIdProblem('APKAEIBAERJR2EXAMPLE')).toBeUndefined();
  });
  it('refuses lowercase and other shapes', () => {
    expect(keyPairIdProblem('k2jcjmdehxqw5f')).toMatch(/public key ID/);
  });
});
