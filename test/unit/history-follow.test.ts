/**
 * `history --follow`'s choice of execution (cli/commands/history.ts): the newest one still running.
 * The command itself, with its follow view, is tested in test/e2e/cli-offline.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { executionToFollow } from '../../cli/commands/history';

const x = (name: string, status: string, startedAt?: string) => ({ name, status, startedAt });

describe('Function: executionToFollow', () => {
  it('picks the newest running execution, wherever it is in the list', () => {
    const list = [
      x('a-1', 'RUNNING', '2026-01-01T00:00:00.000Z'),
      x('b-1', 'RUNNING', '2026-01-03T00:00:00.000Z'),
      x('a-2', 'SUCCEEDED', '2026-01-04T00:00:00.000Z'),
      x('c-1', 'RUNNING', '2026-01-02T00:00:00.000Z'),
    ];
    expect(executionToFollow(list)?.name).toBe('b-1');
    expect(executionToFollow([...list].reverse())?.name).toBe('b-1');
  });

  it('follows nothing when no execution is running, however new the finished ones are', () => {
    expect(executionToFollow([x('a-1', 'SUCCEEDED', '2026-01-04T00:00:00.000Z'), x('a-2', 'FAILED'), x('a-3', 'ABORTED')])).toBeUndefined();
    expect(executionToFollow([])).toBeUndefined();
  });

  it('prefers a running execution with a start time over one without', () => {
    expect(executionToFollow([x('a-1', 'RUNNING'), x('a-2', 'RUNNING', '2026-01-01T00:00:00.000Z')])?.name).toBe('a-2');
  });
});
