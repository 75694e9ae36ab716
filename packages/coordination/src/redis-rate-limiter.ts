// Cluster-wide token buckets in Redis: one hash per (account, class) updated by a Lua script, so
// the read-refill-take-write is atomic across replicas; the script reads Redis's clock (TIME),
// so replicas' clocks do not matter. Sent with EVALSHA after SCRIPT LOAD (ioredis defineCommand
// falls back to EVAL when the server lost its script cache, e.g. after a restart).
// When Redis is unavailable, slow or fails, the answer comes from this replica's own bucket of
// the same quota: never an unlimited free pass, never a wait beyond the command timeout.
import type { Quota } from "./config.ts";
import type { RedisConnection } from "./redis-connection.ts";
import { LocalTokenBuckets, type RateDecision, type RateLimiter } from "./token-bucket.ts";

/** KEYS[1] bucket; ARGV rate per second, burst. Returns {allowed (0|1), retry after ms}. */
export const TOKEN_BUCKET_SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
local elapsed = now - at
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate / 1000)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
  if wait < 1 then wait = 1 end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait}
`;

const PREFIX = "keyhold:ratelimit:";

type TakeCommand = (key: string, rate: string, burst: string) => Promise<[number, number]>;

export interface RedisRateLimiterCounters {
  /** Decisions made by Redis. */
  redis: number;
  /** Decisions made by the local fallback. */
  fallback: number;
}

export class RedisRateLimiter implements RateLimiter {
  readonly #connection: RedisConnection;
  readonly #fallback: LocalTokenBuckets;
  readonly #take: TakeCommand;
  readonly counters: RedisRateLimiterCounters = { redis: 0, fallback: 0 };

  constructor(connection: RedisConnection, fallback: LocalTokenBuckets = new LocalTokenBuckets()) {
    this.#connection = connection;
    this.#fallback = fallback;
    const client = connection.client;
    if (!("keyholdTakeToken" in client)) client.defineCommand("keyholdTakeToken", { numberOfKeys: 1, lua: TOKEN_BUCKET_SCRIPT });
    const command = (client as unknown as Record<string, TakeCommand>)["keyholdTakeToken"]!;
    this.#take = command.bind(client);
  }

  async take(key: string, quota: Quota): Promise<RateDecision> {
    if (this.#connection.available) {
      try {
        const [allowed, wait] = await this.#take(PREFIX + key, String(quota.ratePerSecond), String(quota.burst));
        this.counters.redis++;
        // Keep the local bucket drained too, so a failover starts from a fair state.
        if (allowed === 1) this.#fallback.takeNow(key, quota);
        return { allowed: allowed === 1, retryAfterMs: allowed === 1 ? 0 : Math.max(1, wait) };
      } catch (error) {
        this.#connection.failed("rate limit", error);
      }
    }
    this.counters.fallback++;
    return this.#fallback.takeNow(key, quota);
  }
}
