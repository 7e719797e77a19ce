import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  canaryPrefix,
  encodeRoleNameForExecution,
  executionName,
  platformRoleName,
  roleSessionName,
} from '../../functions/shared/identifiers';

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
