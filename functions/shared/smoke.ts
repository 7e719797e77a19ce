/**
 * The smoke mode every function has (`binary-backends smoke`, docs/deploy.md "After `osls deploy`"): invoked
 * with exactly `{"smoke": true}`, a function runs its probes instead of its work and returns a report. Each
 * probe makes one real call its role is granted, in a form that writes nothing that stays: a GetItem of a key
 * no record uses, an UpdateItem/PutItem whose condition cannot hold (ConditionalCheckFailed means the call was
 * authorized), a DescribeExecution / GetRole of something that does not exist (its not-found error means the
 * same), an event with detail-type `Smoke Test` that no rule routes, an AssumeRole. An AccessDenied, or any
 * other error, fails the probe and the report names the action.
 *
 * The probes themselves are in smoke-probes.ts, so a function's bundle carries only the SDK clients it uses.
 */
import { awsErrorName } from './errors';

export interface SmokeCheck {
  /** The IAM action (or step) the probe exercised, like `dynamodb:GetItem`. */
  action: string;
  result: 'PASS' | 'FAIL';
  /** On FAIL: the error's name and message. */
  error?: string;
  message?: string;
}

export interface SmokeReport {
  smoke: 'PASS' | 'FAIL';
  checks: SmokeCheck[];
}

export interface SmokeProbe {
  action: string;
  run: () => Promise<unknown>;
  /** Error names that prove the call was authorized (the target does not exist, the condition failed). */
  authorizedWhen?: string[];
}

/** True only for `{"smoke": true}`: no real event of any function has that shape. */
export function isSmokeEvent(event: unknown): boolean {
  return typeof event === 'object' && event !== null && !Array.isArray(event) && Object.keys(event).length === 1 && (event as { smoke?: unknown }).smoke === true;
}

/** Runs every probe, one after the other (one failure does not hide the next), and reports. Never throws. */
export async function runProbes(probes: SmokeProbe[]): Promise<SmokeReport> {
  const checks: SmokeCheck[] = [];
  for (const probe of probes) {
    try {
      await probe.run();
      checks.push({ action: probe.action, result: 'PASS' });
    } catch (err) {
      const name = awsErrorName(err) || 'Error';
      if (probe.authorizedWhen?.includes(name)) checks.push({ action: probe.action, result: 'PASS' });
      else checks.push({ action: probe.action, result: 'FAIL', error: name, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return { smoke: checks.every((c) => c.result === 'PASS') ? 'PASS' : 'FAIL', checks };
}

/** A well-formed org ID that no org has (the nil UUID), for probes that go through org lookups. */
export const SMOKE_ORG_ID = '00000000-0000-0000-0000-000000000000';

/**
 * The key the DynamoDB probes use: no org record or audit event has this partition key. Here rather than in
 * smoke-probes.ts so the signer can probe GetItem without bundling the SDK clients those probes use.
 */
export const SMOKE_KEY = { pk: 'SMOKE#probe', sk: 'SMOKE' } as const;
