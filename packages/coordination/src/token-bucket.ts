// Token buckets: `ratePerSecond` tokens refill continuously up to `burst`; a call takes one.
// RateLimiter is what the quota interceptor asks; LocalTokenBuckets answers from this process's
// memory (the in-process limiter, and the fallback of the Redis one).
import type { Quota } from "./config.ts";

export interface RateDecision {
  readonly allowed: boolean;
  /** When refused: milliseconds until a token is available (≥ 1). 0 when allowed. */
  readonly retryAfterMs: number;
}

export interface RateLimiter {
  /** Takes one token of bucket `key` (created full). Never throws; never waits long. */
  take(key: string, quota: Quota): Promise<RateDecision>;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** The bucket arithmetic shared by the local limiter and (in Lua) the Redis one. */
export function takeToken(bucket: Bucket | undefined, quota: Quota, now: number): { bucket: Bucket; decision: RateDecision } {
  const start = bucket ?? { tokens: quota.burst, at: now };
  const elapsed = Math.max(0, now - start.at);
  const tokens = Math.min(quota.burst, start.tokens + (elapsed * quota.ratePerSecond) / 1000);
  if (tokens >= 1) return { bucket: { tokens: tokens - 1, at: now }, decision: { allowed: true, retryAfterMs: 0 } };
  const retryAfterMs = Math.max(1, Math.ceil(((1 - tokens) * 1000) / quota.ratePerSecond));
  return { bucket: { tokens, at: now }, decision: { allowed: false, retryAfterMs } };
}

export class LocalTokenBuckets implements RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #maxBuckets: number;
  readonly #now: () => number;

  constructor(options: { readonly maxBuckets?: number; readonly now?: () => number } = {}) {
    this.#maxBuckets = options.maxBuckets ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  take(key: string, quota: Quota): Promise<RateDecision> {
    return Promise.resolve(this.takeNow(key, quota));
  }

  /** The synchronous form (the Redis limiter's fallback uses it). */
  takeNow(key: string, quota: Quota): RateDecision {
    const { bucket, decision } = takeToken(this.#buckets.get(key), quota, this.#now());
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    // Forgetting the least recently used bucket gives that caller a full bucket: bounded memory
    // matters more than exactness for an account idle long enough to be the oldest.
    if (this.#buckets.size > this.#maxBuckets) this.#buckets.delete(this.#buckets.keys().next().value!);
    return decision;
  }
}
