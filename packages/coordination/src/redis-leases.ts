// Leases in Redis: SET <name> <random token> NX PX <ttl> takes a lease; renewal and release
// are Lua scripts that act only when the stored token is still this holder's, so a holder whose
// lease expired (and was taken by another replica) can neither extend nor delete the new one.
// Redis unreachable or slow: the lease is not acquired (logged), the job skips this tick.
import { randomBytes } from "node:crypto";
import type { Logger } from "@keyhold/server-kit";
import { runWithLease, type Lease, type LeaseManager } from "./leases.ts";
import { describe, type RedisConnection } from "./redis-connection.ts";

export const RENEW_LEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

export const RELEASE_LEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

const PREFIX = "keyhold:lease:";

type Script = (key: string, ...args: string[]) => Promise<number>;

export class RedisLeaseManager implements LeaseManager {
  readonly #connection: RedisConnection;
  readonly #logger: Logger;
  readonly #renew: Script;
  readonly #release: Script;

  constructor(connection: RedisConnection, logger: Logger) {
    this.#connection = connection;
    this.#logger = logger.child({ component: "leases" });
    const client = connection.client;
    if (!("keyholdRenewLease" in client)) client.defineCommand("keyholdRenewLease", { numberOfKeys: 1, lua: RENEW_LEASE_SCRIPT });
    if (!("keyholdReleaseLease" in client)) client.defineCommand("keyholdReleaseLease", { numberOfKeys: 1, lua: RELEASE_LEASE_SCRIPT });
    const commands = client as unknown as Record<string, Script>;
    this.#renew = commands["keyholdRenewLease"]!.bind(client);
    this.#release = commands["keyholdReleaseLease"]!.bind(client);
  }

  async acquire(name: string, ttlMs: number): Promise<Lease | undefined> {
    if (!this.#connection.connected) {
      this.#logger.warn("lease not acquired: redis unavailable", { lease: name });
      return undefined;
    }
    const token = randomBytes(16).toString("hex");
    const key = PREFIX + name;
    try {
      const answer = await this.#connection.client.set(key, token, "PX", ttlMs, "NX");
      if (answer !== "OK") return undefined;
    } catch (error) {
      this.#logger.warn("lease not acquired: redis command failed", { lease: name, error: describe(error) });
      return undefined;
    }
    const controller = new AbortController();
    // Expires on our side no later than on Redis's: past it, the work is no longer exclusive.
    let expiresAt = Date.now() + ttlMs;
    let expiry = setTimeout(() => controller.abort(), ttlMs);
    expiry.unref();
    const lost = () => {
      clearTimeout(expiry);
      controller.abort();
    };
    return {
      name,
      signal: controller.signal,
      renew: async () => {
        if (controller.signal.aborted) return false;
        const sentAt = Date.now();
        try {
          const held = (await this.#renew(key, token, String(ttlMs))) === 1;
          if (!held) {
            lost();
            return false;
          }
          expiresAt = sentAt + ttlMs;
          clearTimeout(expiry);
          expiry = setTimeout(() => controller.abort(), Math.max(0, expiresAt - Date.now()));
          expiry.unref();
          return true;
        } catch (error) {
          // Not renewed, maybe still held until expiresAt: the timer aborts then.
          this.#logger.warn("lease renewal failed", { lease: name, error: describe(error) });
          return false;
        }
      },
      release: async () => {
        clearTimeout(expiry);
        if (controller.signal.aborted) return;
        controller.abort();
        try {
          await this.#release(key, token);
        } catch (error) {
          // It expires by itself after its ttl.
          this.#logger.warn("lease release failed", { lease: name, error: describe(error) });
        }
      },
    };
  }

  runExclusive<T>(name: string, ttlMs: number, fn: (lease: Lease) => Promise<T>): Promise<T | undefined> {
    return runWithLease(this, name, ttlMs, fn, this.#logger);
  }
}
