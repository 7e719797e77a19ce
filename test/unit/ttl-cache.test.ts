import { describe, expect, it } from 'vitest';
import { TransientError, ValidationError } from '#shared/errors';
import { TtlCache } from '#shared/ttl-cache';

/** A load whose answer the test releases by hand. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('Class: TtlCache', () => {
  it('serves a value for ttlMs from the start of its load, then loads again', async () => {
    let t = 1_000;
    let n = 0;
    const cache = new TtlCache<number>({ now: () => t, ttlMs: 30_000 });
    const load = async () => ++n;
    expect(await cache.get('a', load)).toBe(1);
    t += 29_999;
    expect(await cache.get('a', load)).toBe(1);
    t += 1;
    expect(await cache.get('a', load)).toBe(2);
    expect(cache.stats).toEqual({ hits: 1, loads: 2, joined: 0, failures: 0, negativeHits: 0 });
  });

  it('shares one load between concurrent misses for the same key, not across keys', async () => {
    const cache = new TtlCache<string>({ now: () => 0, ttlMs: 1000 });
    const d = deferred<string>();
    let calls = 0;
    const load = () => {
      calls += 1;
      return d.promise;
    };
    const all = Promise.all(Array.from({ length: 20 }, () => cache.get('k', load)));
    const other = cache.get('other', async () => 'o');
    d.resolve('v');
    expect(await all).toEqual(Array(20).fill('v'));
    expect(await other).toBe('o');
    expect(calls).toBe(1);
    expect(cache.stats.loads).toBe(2);
    expect(cache.stats.joined).toBe(19);
  });

  it('does not cache a failed load nor leave it in flight: the next call loads again', async () => {
    const cache = new TtlCache<string>({ now: () => 0, ttlMs: 1000 });
    const err = new TransientError('DynamoDB GetItem: throttled');
    await expect(Promise.all([cache.get('k', () => Promise.reject(err)), cache.get('k', async () => 'never')])).rejects.toBe(err);
    expect(cache.size).toBe(0);
    expect(await cache.get('k', async () => 'ok')).toBe('ok');
    expect(cache.stats.failures).toBe(1);
    expect(cache.stats.loads).toBe(2);
  });

  it('treats a load that throws synchronously as a failed load', async () => {
    const cache = new TtlCache<string>({ now: () => 0 });
    const err = new ValidationError('x: bad', ['x']);
    await expect(
      cache.get('k', () => {
        throw err;
      }),
    ).rejects.toBe(err);
    expect(await cache.get('k', async () => 'ok')).toBe('ok');
  });

  it('remembers the failures `negative.when` selects for negative.ttlMs, from the failure', async () => {
    let t = 0;
    const cache = new TtlCache<string>({
      now: () => t,
      ttlMs: 0,
      negative: { ttlMs: 30_000, when: (e) => e instanceof ValidationError },
    });
    let loads = 0;
    const refused = new ValidationError('role: refused', ['role']);
    const failing = async () => {
      loads += 1;
      throw refused;
    };
    await expect(cache.get('k', failing)).rejects.toBe(refused);
    t += 29_999;
    await expect(cache.get('k', failing)).rejects.toBe(refused);
    expect(loads).toBe(1);
    expect(cache.stats.negativeHits).toBe(1);
    t += 1;
    expect(await cache.get('k', async () => 'fixed')).toBe('fixed');
    // Failures it does not select are not remembered.
    const transient = new TransientError('STS: throttled');
    await expect(cache.get('j', () => Promise.reject(transient))).rejects.toBe(transient);
    expect(await cache.get('j', async () => 'ok')).toBe('ok');
  });

  it('does not keep a value that is stale on arrival (ttlMs 0), yet answers its callers', async () => {
    const cache = new TtlCache<number>({ now: () => 0, ttlMs: 0 });
    let n = 0;
    expect(await cache.get('k', async () => ++n)).toBe(1);
    expect(await cache.get('k', async () => ++n)).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('uses freshUntil for values with their own expiry', async () => {
    let t = 0;
    const cache = new TtlCache<{ expires: number }>({ now: () => t, freshUntil: (v) => v.expires - 900 });
    let loads = 0;
    const load = async () => {
      loads += 1;
      return { expires: t + 3600 };
    };
    await cache.get('c', load);
    t = 2699;
    await cache.get('c', load);
    expect(loads).toBe(1);
    t = 2700;
    await cache.get('c', load);
    expect(loads).toBe(2);
  });

  it('with accept, reloads when the cached value or the load in flight is refused, sharing the new load', async () => {
    const cache = new TtlCache<number>({ now: () => 0, ttlMs: 1000 });
    const first = deferred<number>();
    const second = deferred<number>();
    const loads = [first, second];
    let calls = 0;
    const load = () => loads[calls++]!.promise;
    const old = cache.get('k', load);
    const newer = cache.get('k', load, (v) => v >= 2);
    const newerToo = cache.get('k', load, (v) => v >= 2);
    first.resolve(1);
    expect(await old).toBe(1);
    await Promise.resolve();
    second.resolve(2);
    expect(await newer).toBe(2);
    expect(await newerToo).toBe(2);
    expect(calls).toBe(2);
    expect(await cache.get('k', load, (v) => v >= 2)).toBe(2);
    expect(calls).toBe(2);
  });

  it('forgets on delete; a load in flight then answers its callers but is not kept', async () => {
    const cache = new TtlCache<string>({ now: () => 0 });
    const d = deferred<string>();
    const pending = cache.get('k', () => d.promise);
    cache.delete();
    d.resolve('old');
    expect(await pending).toBe('old');
    expect(await cache.get('k', async () => 'new')).toBe('new');
    cache.delete('k');
    expect(cache.size).toBe(0);
  });

  it('drops stale entries once it holds more than sweepAbove', async () => {
    let t = 0;
    const cache = new TtlCache<number>({ now: () => t, ttlMs: 10, sweepAbove: 3 });
    for (const k of ['a', 'b', 'c', 'd']) await cache.get(k, async () => 1);
    expect(cache.size).toBe(4);
    t = 10;
    await cache.get('e', async () => 1);
    expect(cache.size).toBe(1);
  });
});
