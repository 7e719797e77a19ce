import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '#shared/errors';
import {
  bucketProblem,
  cloudFrontHostProblem,
  keyPairIdProblem,
  parseExecutionInput,
  parseOnboardingRequest,
  regionProblem,
  roleArnProblem,
  roleNameProblem,
  isReservedName,
  partitionOfRegion,
  prefixProblem,
  REGIONS_BY_PARTITION,
  stackRuleProblems,
  type StackRules,
} from '#shared/validation';
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
  it('accepts every 1-10 character name of IAM role-name characters but the reserved ones', () => {
    fc.assert(fc.property(fc.stringMatching(/^[A-Za-z0-9+=,.@_-]{1,10}$/).filter((n) => !isReservedName(n)), (n) => {
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

describe('Input that can never be right (issue 9, item 7)', () => {
  const stack: StackRules = {
    partition: 'aws',
    platformAccountId: '111111111111',
    keySecret: { accountId: '111111111111', prefix: 'binary-backends/prod/cloudfront/' },
    allowLoopbackHosts: false,
  };
  const cloudFront = (over: Record<string, unknown> = {}) => ({
    type: 'cloudfront',
    host: 'd1234567890.cloudfront.net',
    keyPairId: 'K2JCJMDEHXQW5F',
    privateKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:binary-backends/prod/cloudfront/acme-AbCdEf',
    ...over,
  });
  function refusal(input: unknown, rules: StackRules | undefined = stack): ValidationError {
    try {
      parseOnboardingRequest(input, rules);
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      return err as ValidationError;
    }
    throw new Error('expected a ValidationError');
  }

  it('accepts a request that fits the stack', () => {
    expect(parseOnboardingRequest({ ...valid, download: cloudFront() }, stack).download.type).toBe('cloudfront');
  });

  it.each(['eu-west-9', 'us-east-7', 'mars-north-1', 'eu-west-1 '])('refuses region %j, which does not exist', (region) => {
    expect(refusal({ ...valid, upload: { ...valid.upload, region } }).fields).toEqual(['upload.region']);
  });

  it('accepts every region in the table, and knows its partition', () => {
    for (const [partition, regions] of Object.entries(REGIONS_BY_PARTITION)) {
      for (const r of regions) {
        expect(regionProblem(r), r).toBeUndefined();
        expect(partitionOfRegion(r)).toBe(partition);
      }
    }
  });

  it('refuses a region and a role ARN of another partition than the stack\'s, naming both', () => {
    const err = refusal({ ...valid, upload: { ...valid.upload, region: 'cn-north-1', roleArn: 'arn:aws-cn:iam::123456789012:role/R' } });
    expect(err.fields).toEqual(['upload.region', 'upload.roleArn']);
    expect(err.message).toContain('upload.region: is in the aws-cn partition, but this stack runs in aws');
    expect(err.message).toContain('upload.roleArn: is in the aws-cn partition');
  });

  it('refuses a customer role in the platform\'s own account', () => {
    const err = refusal({ ...valid, upload: { ...valid.upload, roleArn: 'arn:aws:iam::111111111111:role/PeridioBinaries' } });
    expect(err.message).toMatch(/^upload\.roleArn: must be a role in the customer's account, not in the platform's own account 111111111111$/);
  });

  it.each(['arn:aws:iam::123456789012:role/*', 'arn:aws:iam::123456789012:role/team/*/R', 'arn:aws:iam::123456789012:role/Peridio?'])(
    'refuses the wildcard role ARN %s',
    (roleArn) => {
      expect(roleArnProblem(roleArn)).toMatch(/without wildcards/);
    },
  );

  it('refuses a loopback CloudFront host unless the stack allows it (the local stack\'s flag), and IP hosts always', () => {
    const loopback = { ...valid, download: cloudFront({ host: '127.0.0.1:4709' }) };
    expect(refusal(loopback).message).toMatch(/^download\.host: .*only for the local stack/);
    expect(parseOnboardingRequest(loopback, { ...stack, allowLoopbackHosts: true }).download.type).toBe('cloudfront');
    for (const host of ['10.0.0.1', '203.0.113.7:443', '[2001:db8::1]']) {
      expect(cloudFrontHostProblem(host), host).toMatch(/not an IP address/);
    }
  });

  it('refuses a prefix with a lone surrogate, and keeps accepting real emoji', () => {
    expect(prefixProblem('fw/\uD800/')).toMatch(/lone surrogate/);
    expect(prefixProblem('fw/\uDC00x/')).toMatch(/lone surrogate/);
    expect(prefixProblem('fw/\u{1F680}/')).toBeUndefined();
    expect(refusal({ ...valid, upload: { ...valid.upload, prefix: 'a\uD83D/' } }).fields).toEqual(['upload.prefix']);
  });

  it('refuses a key secret of another account, or outside this stage\'s prefix', () => {
    const other = refusal({ ...valid, download: cloudFront({ privateKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:222222222222:secret:binary-backends/prod/cloudfront/x-AbCdEf' }) });
    expect(other.fields).toEqual(['download.privateKeySecretArn']);
    const stage = refusal({ ...valid, download: cloudFront({ privateKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:binary-backends/dev/cloudfront/x-AbCdEf' }) });
    expect(stage.message).toContain('binary-backends/prod/cloudfront/');
  });

  it.each(['__proto__', 'prototype', 'constructor', 'toString', 'valueOf', '__PROTO__', 'hasOwnProperty'])('refuses the backend name %s', (roleName) => {
    const problem = roleNameProblem(roleName);
    expect(problem).toBeDefined();
    expect(refusal({ ...valid, roleName }).fields).toEqual(['roleName']);
  });

  it('reports a wrong type as a wrong type, and only a missing field as required', () => {
    expect(refusal({ ...valid, roleName: 5 }).message).toBe('roleName: expected string, got number');
    expect(refusal({ ...valid, upload: { ...valid.upload, bucket: null } }).message).toBe('upload.bucket: expected string, got null');
    expect(refusal({ ...valid, upload: 'x' }).message).toBe('upload: expected object, got string');
    expect(refusal({ ...valid, trustDeadlineSeconds: '3600' }).message).toBe('trustDeadlineSeconds: expected number, got string');
    expect(refusal({ ...valid, roleName: undefined }).message).toBe('roleName: is required');
  });

  it('never reports a present value of the wrong type as "is required" (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string()), fc.object()), (wrong) => {
        const message = refusal({ ...valid, upload: { ...valid.upload, bucket: wrong } }).message;
        expect(message).toMatch(/^upload\.bucket: expected string, got (number|boolean|null|array|object)$/);
      }),
    );
  });

  it('accepts any existing region of the stack\'s partition and refuses any of another (property)', () => {
    const all = Object.entries(REGIONS_BY_PARTITION).flatMap(([p, rs]) => rs.map((r) => [p, r] as const));
    fc.assert(
      fc.property(fc.constantFrom(...all), ([partition, region]) => {
        const problems = stackRuleProblems({ upload: { region, roleArn: valid.upload.roleArn } }, stack);
        expect(problems.some((p) => p.field === 'upload.region')).toBe(partition !== 'aws');
      }),
    );
  });
});
