import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LocalTokenBuckets, takeToken } from "./token-bucket.ts";

describe("token bucket", () => {
  test("a new bucket is full: burst calls pass, the next is refused with the time until one token", () => {
    let now = 1_000_000;
    const buckets = new LocalTokenBuckets({ now: () => now });
    const quota = { ratePerSecond: 10, burst: 3 };
    for (let i = 0; i < 3; i++) assert.equal(buckets.takeNow("a", quota).allowed, true);
    const refused = buckets.takeNow("a", quota);
    assert.deepEqual(refused, { allowed: false, retryAfterMs: 100 });
    now += 40;
    assert.deepEqual(buckets.takeNow("a", quota), { allowed: false, retryAfterMs: 60 });
    now += 60;
    assert.equal(buckets.takeNow("a", quota).allowed, true);
    // Another key has its own bucket.
    assert.equal(buckets.takeNow("b", quota).allowed, true);
  });

  test("refill is capped at burst", () => {
    const quota = { ratePerSecond: 1000, burst: 5 };
    const { bucket } = takeToken({ tokens: 0, at: 0 }, quota, 1_000_000);
    assert.equal(bucket.tokens, 4);
  });

  test("a fractional rate waits whole milliseconds, at least one", () => {
    const quota = { ratePerSecond: 0.5, burst: 1 };
    const first = takeToken(undefined, quota, 0);
    assert.equal(first.decision.allowed, true);
    const second = takeToken(first.bucket, quota, 1);
    assert.deepEqual(second.decision, { allowed: false, retryAfterMs: 1999 });
  });

  test("memory is bounded: the least recently used bucket is forgotten", () => {
    const buckets = new LocalTokenBuckets({ maxBuckets: 2, now: () => 0 });
    const quota = { ratePerSecond: 1, burst: 1 };
    buckets.takeNow("a", quota);
    buckets.takeNow("b", quota);
    buckets.takeNow("c", quota);
    // "a" was forgotten: full again.
    assert.equal(buckets.takeNow("a", quota).allowed, true);
    assert.equal(buckets.takeNow("c", quota).allowed, false);
  });
});
