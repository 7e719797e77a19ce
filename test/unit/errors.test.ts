import { describe, expect, it } from 'vitest';
import * as errors from '#shared/errors';

const { ERROR_NAMES, REMEDIATIONS, asTransientOr, remediationFor, TransientError } = errors;

describe('Module: errors', () => {
  it('gives every error class a literal name equal to its class name, so minified bundles still match the ASL', () => {
    const classes = Object.entries(errors).filter(
      ([, v]) => typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof errors.BinaryBackendError,
    );
    expect(classes.map(([k]) => k).sort()).toEqual([...ERROR_NAMES].sort());
    for (const [exportName, Cls] of classes) {
      const instance = new (Cls as new (m: string, ...rest: unknown[]) => Error)('m', 'customer');
      expect(instance.name).toBe(exportName);
    }
  });

  it('has a remediation for every error name', () => {
    for (const name of ERROR_NAMES) expect(REMEDIATIONS[name].length).toBeGreaterThan(20);
    expect(remediationFor('States.Timeout')).toBe(REMEDIATIONS.Unknown);
  });

  it('turns throttling and 5xx into TransientError and leaves client errors alone', () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const failure = Object.assign(new Error('boom'), { name: 'Whatever', $metadata: { httpStatusCode: 503 } });
    const denied = Object.assign(new Error('no'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(asTransientOr(throttled)).toBeInstanceOf(TransientError);
    expect(asTransientOr(failure)).toBeInstanceOf(TransientError);
    expect(asTransientOr(denied)).toBe(denied);
    const ours = new errors.BucketNotFoundError('x');
    expect(asTransientOr(ours)).toBe(ours);
  });

  it('keeps the cause of a wrapped error', () => {
    const cause = new Error('sdk');
    expect(new errors.ValidationError('m', [], { cause }).cause).toBe(cause);
  });
});
