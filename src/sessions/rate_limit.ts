/**
 * Calls per minute for each API key: a token bucket that holds a minute's worth of calls and
 * refills continuously, so a key can burst up to its limit and then goes at the limit's pace.
 */

export interface RateLimitOptions {
  /** Calls a key may make a minute. */
  perMinute: number;
  /** The clock (ms). */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const MINUTE_MS = 60_000;

export class RateLimit {
  readonly #perMinute: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions) {
    this.#perMinute = options.perMinute;
    this.#now = options.now ?? Date.now;
  }

  /** Take one call for `key`: 0 when allowed, else the ms to wait before the next one is. */
  take(key: string): number {
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#perMinute, updatedAt: now };
    const refill = ((now - bucket.updatedAt) * this.#perMinute) / MINUTE_MS;
    bucket.tokens = Math.min(this.#perMinute, bucket.tokens + refill);
    bucket.updatedAt = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) * MINUTE_MS) / this.#perMinute);
  }
}
