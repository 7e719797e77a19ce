/**
 * A small TTL cache with one in-flight load per key ("single flight"): the signer's route and location caches,
 * the credential broker and the CloudFront key cache are all this (docs/signer.md "Caches").
 *
 * - `get(key, load)` answers a fresh value from the cache; on a miss it calls `load` once, and every concurrent
 *   miss for the same key shares that one load.
 * - A value is fresh for `ttlMs` from when its load *started* (so a slow read never extends its own life), or
 *   until `freshUntil(value, startedMs)` for values that carry their own expiry (credentials). A value already
 *   stale when it arrives is returned to its callers and not kept.
 * - A failed load is not cached and not left in flight: the next call loads again. With `negative`, failures it
 *   selects are remembered for `negative.ttlMs` (from the failure) and rethrown without a load.
 * - The clock is injected; `stats` counts hits, loads, joined loads and failures for tests and benchmarks.
 * - Bounded: above `sweepAbove` entries (default 10,000), adding an entry first drops the stale ones.
 */

export interface TtlCacheOptions<V> {
  /** Epoch milliseconds. */
  now: () => number;
  /** How long a value is served, from the start of its load. Default Infinity (for the cache's life). */
  ttlMs?: number;
  /** When a value stops being served (epoch ms); overrides `ttlMs` for values with their own expiry. */
  freshUntil?: (value: V, loadStartedMs: number) => number;
  /** Remember the failures `when` selects for `ttlMs` and rethrow them without a load. Default: none. */
  negative?: { ttlMs: number; when: (err: unknown) => boolean };
  /** Above this many entries a new entry first drops the stale ones. Default 10,000. */
  sweepAbove?: number;
}

export interface TtlCacheStats {
  /** Calls answered from a fresh value. */
  hits: number;
  /** Loads started (one per miss not joined to an in-flight load). */
  loads: number;
  /** Calls that joined a load already in flight. */
  joined: number;
  /** Loads that failed. */
  failures: number;
  /** Calls answered by a remembered failure. */
  negativeHits: number;
}

interface Entry<V> {
  /** Set once a load succeeded (or a failure is remembered); `freshUntilMs` says until when it is served. */
  state?: { ok: true; value: V } | { ok: false; error: unknown };
  freshUntilMs: number;
  inflight?: Promise<V>;
}

export class TtlCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  readonly stats: TtlCacheStats = { hits: 0, loads: 0, joined: 0, failures: 0, negativeHits: 0 };

  constructor(private readonly options: TtlCacheOptions<V>) {}

  /**
   * The value for `key`: cached while fresh, else from `load` (shared by concurrent callers). With `accept`, a
   * cached or in-flight value it refuses counts as a miss (e.g. "a read newer than X"); a load this call starts
   * is returned as it comes.
   */
  get(key: string, load: () => Promise<V>, accept?: (value: V) => boolean): Promise<V> {
    const now = this.options.now();
    let entry = this.entries.get(key);
    if (entry) {
      const state = entry.state;
      if (state && entry.freshUntilMs > now) {
        if (!state.ok) {
          this.stats.negativeHits += 1;
          return Promise.reject(state.error);
        }
        if (!accept || accept(state.value)) {
          this.stats.hits += 1;
          return Promise.resolve(state.value);
        }
      }
      if (entry.inflight) {
        this.stats.joined += 1;
        if (!accept) return entry.inflight;
        // The in-flight load may be too old for this caller: once it lands, ask again (then a newer load runs).
        return entry.inflight.then((value) => (accept(value) ? value : this.get(key, load, accept)));
      }
    } else {
      this.sweep(now);
      entry = { freshUntilMs: 0 };
      this.entries.set(key, entry);
    }
    return this.load(key, entry, load, now);
  }

  /** Forget one key, or every key. A load in flight still answers its callers but is not kept. */
  delete(key?: string): void {
    if (key === undefined) this.entries.clear();
    else this.entries.delete(key);
  }

  /** Entries held (fresh, stale, remembered failures or in flight). */
  get size(): number {
    return this.entries.size;
  }

  private load(key: string, entry: Entry<V>, load: () => Promise<V>, startedMs: number): Promise<V> {
    this.stats.loads += 1;
    let started: Promise<V>;
    try {
      started = load();
    } catch (err) {
      started = Promise.reject(err);
    }
    const inflight: Promise<V> = started.then(
      (value) => {
        if (entry.inflight === inflight) entry.inflight = undefined;
        if (this.entries.get(key) === entry) {
          const until = this.options.freshUntil
            ? this.options.freshUntil(value, startedMs)
            : startedMs + (this.options.ttlMs ?? Number.POSITIVE_INFINITY);
          if (until > this.options.now()) {
            entry.state = { ok: true, value };
            entry.freshUntilMs = until;
          } else if (!entry.inflight) {
            this.entries.delete(key);
          }
        }
        return value;
      },
      (err: unknown) => {
        if (entry.inflight === inflight) entry.inflight = undefined;
        this.stats.failures += 1;
        const negative = this.options.negative;
        if (this.entries.get(key) === entry) {
          if (negative?.when(err)) {
            entry.state = { ok: false, error: err };
            entry.freshUntilMs = this.options.now() + negative.ttlMs;
          } else if (!entry.inflight && !(entry.state && entry.freshUntilMs > this.options.now())) {
            this.entries.delete(key);
          }
        }
        throw err;
      },
    );
    entry.inflight = inflight;
    return inflight;
  }

  private sweep(now: number): void {
    if (this.entries.size <= (this.options.sweepAbove ?? 10_000)) return;
    for (const [k, e] of this.entries) if (!e.inflight && e.freshUntilMs <= now) this.entries.delete(k);
  }
}
