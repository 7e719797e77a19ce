import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  canaryPrefix,
  DEFAULT_LOCATION,
  LOCATION_PATTERN,
  locationFor,
  encodeRoleNameForExecution,
  executionName,
  iamRoleNameProblem,
  iamTagProblem,
  platformRoleName,
  roleNameTagValue,
  roleSessionName,
  roleSessionNameProblem,
} from '#shared/identifiers';

const orgId = fc.uuid({ version: 4 }).map((u) => u.toLowerCase());
const roleName = fc.stringMatching(/^[A-Za-z0-9+=,.@_-]{1,10}$/);

describe('Function: platformRoleName', () => {
  it('fits IAM’s 64-character limit for every org and role name', () => {
    fc.assert(
      fc.property(orgId, roleName, (o, r) => {
        const name = platformRoleName(o, r);
        expect(name.length).toBeLessThanOrEqual(64);
        expect(name).toMatch(/^[\w+=,.@-]+$/);
      }),
    );
  });
});

describe('Function: executionName', () => {
  it('uses only [A-Za-z0-9_-] and stays within 80 characters', () => {
    fc.assert(
      fc.property(orgId, roleName, fc.integer({ min: 1, max: 1_000_000_000 }), (o, r, v) => {
        const name = executionName(o, r, v);
        expect(name).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
      }),
    );
  });

  it('never gives two different role names the same execution name', () => {
    fc.assert(
      fc.property(roleName, roleName, (a, b) => {
        fc.pre(a !== b);
        expect(encodeRoleNameForExecution(a)).not.toBe(encodeRoleNameForExecution(b));
      }),
    );
  });

  it('keeps plain names readable', () => {
    expect(executionName('3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a', 'prod', 2)).toBe('3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f6a-prod-2');
    expect(encodeRoleNameForExecution('a.b_c')).toBe('a_2eb_5fc');
  });
});

describe('Function: canaryPrefix', () => {
  it('puts canaries under the config prefix, per execution', () => {
    expect(canaryPrefix('peridio/', 'exec-1')).toBe('peridio/.peridio-verification/exec-1/');
    expect(canaryPrefix(undefined, 'exec-1')).toBe('.peridio-verification/exec-1/');
  });
});

describe('Function: roleSessionName', () => {
  it('always satisfies the STS RoleSessionName rule', () => {
    fc.assert(fc.property(fc.string({ maxLength: 100 }), (p) => {
      expect(roleSessionName(p)).toMatch(/^[\w+=,.@-]{2,64}$/);
    }));
  });
});

// The services' own patterns, written out here from the botocore models (not imported), so the tests
// check identifiers.ts against IAM/STS rather than against itself.
const IAM_ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const IAM_TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;
const STS_SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

describe('Service name patterns: every value that becomes a role name, tag value or session name', () => {
  it('makes platform role names IAM accepts, and the tag value of every backend name IAM accepts', () => {
    fc.assert(
      fc.property(orgId, roleName, (o, r) => {
        expect(platformRoleName(o, r)).toMatch(IAM_ROLE_NAME);
        expect(iamRoleNameProblem(platformRoleName(o, r))).toBeUndefined();
        expect(roleNameTagValue(r)).toMatch(IAM_TAG_VALUE);
        expect(iamTagProblem({ Key: 'peridio:backend', Value: roleNameTagValue(r) })).toBeUndefined();
        expect(iamTagProblem({ Key: 'peridio:org-id', Value: o })).toBeUndefined();
      }),
    );
  });

  it('encodes backend names into tag values one-to-one, leaving names without a comma unchanged', () => {
    fc.assert(
      fc.property(roleName, roleName, (a, b) => {
        if (a !== b) expect(roleNameTagValue(a)).not.toBe(roleNameTagValue(b));
        if (!a.includes(',')) expect(roleNameTagValue(a)).toBe(a);
      }),
    );
    expect(roleNameTagValue('a,b')).toBe('a:b');
  });

  it('agrees with IAM on any tag value: refused exactly when IAM’s pattern refuses it', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300, unit: 'grapheme' }), (v) => {
        expect(iamTagProblem({ Key: 'k', Value: v }) === undefined).toBe(IAM_TAG_VALUE.test(v));
      }),
    );
    expect(iamTagProblem({ Key: 'peridio:backend', Value: 'a,b' })).toMatch(/IAM tag value/);
  });

  it('agrees with IAM and STS on any role or session name', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (v) => {
        expect(iamRoleNameProblem(v) === undefined).toBe(IAM_ROLE_NAME.test(v));
        expect(roleSessionNameProblem(v) === undefined).toBe(STS_SESSION_NAME.test(v));
      }),
    );
  });

  it('makes a valid RoleSessionName from any purpose, however long or odd', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (purpose) => {
        const name = roleSessionName(purpose);
        expect(name).toMatch(STS_SESSION_NAME);
        expect(roleSessionNameProblem(name)).toBeUndefined();
      }),
    );
  });

  it('makes valid session names for every purpose the code uses, with any org ID and counters', () => {
    fc.assert(
      fc.property(orgId, fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 1, max: 100_000 }), (o, v, a) => {
        for (const purpose of [`check-trust-${v}-${a}`, `signer-${o}`, 'signer-default', 'verify-upload', 'verify-download', 'cleanup']) {
          expect(roleSessionName(purpose)).toMatch(STS_SESSION_NAME);
        }
      }),
    );
  });
});

describe('storage locations', () => {
  it('locationFor builds b.<encoded role>.<configVersion> and matches LOCATION_PATTERN', () => {
    expect(locationFor('prod', 3)).toBe('b.prod.3');
    expect(locationFor('my.role', 12)).toBe('b.my_2erole.12');
    expect(LOCATION_PATTERN.test(DEFAULT_LOCATION)).toBe(true);
    expect(LOCATION_PATTERN.test(locationFor('prod', 3))).toBe(true);
    expect(LOCATION_PATTERN.test(locationFor('a'.repeat(30), 4294967295))).toBe(true);
  });

  it('LOCATION_PATTERN rejects other shapes', () => {
    for (const bad of ['', 'Default', 'b.prod.0', 'b.prod.01', 'b..3', 'b.prod', `b.${'a'.repeat(31)}.1`, 'b.p.r.1', 'b.prod.12345678901']) {
      expect(LOCATION_PATTERN.test(bad), bad).toBe(false);
    }
  });
});
