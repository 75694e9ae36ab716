// What a process shares with its replicas, chosen once at startup: Redis when KEYHOLD_REDIS_URL
// is set, else in-process equivalents (one process: nothing to share). Built by the composition
// root and handed to the apps, which take each part through their overrides.
import type { Logger } from "@keyhold/server-kit";
import type { CoordinationConfig } from "./config.ts";
import { InProcessInvalidationBus, type InvalidationBus } from "./invalidation-bus.ts";
import { InProcessLeaseManager, type LeaseManager } from "./leases.ts";
import { connectRedis, type RedisConnection } from "./redis-connection.ts";
import { RedisInvalidationBus } from "./redis-invalidation-bus.ts";
import { RedisLeaseManager } from "./redis-leases.ts";
import { RedisRateLimiter } from "./redis-rate-limiter.ts";
import { LocalTokenBuckets, type RateLimiter } from "./token-bucket.ts";

export interface Coordination {
  readonly bus: InvalidationBus;
  readonly leases: LeaseManager;
  readonly limiter: RateLimiter;
  /** The Redis connection, when there is one (its health for probes and tests). */
  readonly redis: RedisConnection | undefined;
  close(): Promise<void>;
}

export function inProcessCoordination(logger: Logger): Coordination {
  const bus = new InProcessInvalidationBus();
  return {
    bus,
    leases: new InProcessLeaseManager(logger),
    limiter: new LocalTokenBuckets(),
    redis: undefined,
    close: () => bus.close(),
  };
}

/** Connects (waiting at most the connect timeout; an unreachable Redis is not an error). */
export async function redisCoordination(url: string, options: Pick<CoordinationConfig, "commandTimeoutMs" | "connectTimeoutMs">, logger: Logger): Promise<Coordination> {
  const redis = connectRedis(url, { ...options, logger, name: "keyhold" });
  const bus = new RedisInvalidationBus(redis, logger);
  await Promise.all([redis.start(), bus.start()]);
  return {
    bus,
    leases: new RedisLeaseManager(redis, logger),
    limiter: new RedisRateLimiter(redis),
    redis,
    async close() {
      await bus.close();
      await redis.close();
    },
  };
}

export function openCoordination(config: CoordinationConfig, logger: Logger): Promise<Coordination> {
  const log = logger.child({ component: "coordination" });
  if (config.redisUrl === undefined) return Promise.resolve(inProcessCoordination(log));
  return redisCoordination(config.redisUrl, config, log);
}
