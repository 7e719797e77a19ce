/**
 * What the follow view (cli/follow-view.ts) prints, for every command that follows an execution
 * (`onboard --follow`, `history --follow`): one assertion, so their progress cannot drift apart.
 */
import { expect } from 'vitest';

/** The follow view's output: from its "Following <arn>" line to the end. */
export function followSection(out: string): string {
  const at = out.indexOf('\nFollowing ');
  expect(at, 'the follow view never started').toBeGreaterThanOrEqual(0);
  return out.slice(at + 1);
}

/**
 * The progress of the mocked trust wait in test/e2e/cli-offline.test.ts: attempts 1 and 2 with their
 * countdowns (injected clock), then the activation, as plain lines in a pipe. Returns the follow section.
 */
export function expectFollowProgress(out: string, executionArn: string): string {
  const section = followSection(out);
  const lines = section.trimEnd().split('\n');
  expect(lines[0]).toBe(`Following ${executionArn}`);
  expect(lines[1]).toMatch(/^00:00:10 {2}WaitForTrust\s+AWAITING_TRUST\s+CheckTrust attempts 1 {2}next check in 20\.0 s {2}\(AccessDenied on the customer role\)$/);
  expect(lines[2]).toMatch(/^00:00:20 {2}WaitForTrust\s+AWAITING_TRUST\s+CheckTrust attempts 2 {2}next check in 40\.0 s {2}\(AccessDenied on the customer role\)$/);
  expect(lines[3]).toMatch(/^✔ Backend "prod" of org [0-9a-f-]{36} is ACTIVE: the signer now routes this org to it\.$/);
  expect(lines).toHaveLength(4);
  expect(section).not.toContain('\u001b[');
  return section;
}
