// One ioredis connection set up so that Redis can never hold a call up or bring the process
// down: no offline queue (a command while disconnected fails at once), no retries of a failed
// command, a short command timeout, reconnection with capped backoff, an explicit start.
// Whoever uses it checks `available` first and falls back to a local answer when it is false;
// a failure reported through `failed()` keeps Redis out of the hot path for a short cool-down,
// so a stalled server costs one timeout per cool-down instead of one per call.
// Log lines carry the error's name and message only: never the URL (it may hold a password).
import { Redis } from "ioredis";
import type { Logger } from "@keyhold/server-kit";

export interface RedisConnectionOptions {
  /** How long one command may take (default 50 ms). */
  readonly commandTimeoutMs?: number;
  /** How long a connection attempt may take (default 1000 ms). */
  readonly connectTimeoutMs?: number;
  /** After a failed command, how long Redis is skipped (default 1000 ms). */
  readonly coolDownMs?: number;
  /** The longest wait between reconnection attempts (default 2000 ms). */
  readonly maxReconnectDelayMs?: number;
  readonly logger: Logger;
  /** Shown in log lines and as the client name (e.g. "keyhold-bus"). */
  readonly name?: string;
}

export class RedisConnection {
  readonly client: Redis;
  readonly #url: string;
  readonly #options: RedisConnectionOptions;
  readonly #logger: Logger;
  readonly #coolDownMs: number;
  #failedUntil = 0;
  #wasReady = false;
  #closed = false;
  /** Commands that failed or timed out (a counter for tests and metrics). */
  failures = 0;

  constructor(url: string, options: RedisConnectionOptions) {
    this.#url = url;
    this.#options = options;
    this.#coolDownMs = options.coolDownMs ?? 1000;
    const name = options.name ?? "keyhold";
    this.#logger = options.logger.child({ component: "redis", connection: name });
    const maxDelay = options.maxReconnectDelayMs ?? 2000;
    this.client = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 50,
      connectTimeout: options.connectTimeoutMs ?? 1000,
      connectionName: name,
      autoResubscribe: false,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
    });
    this.client.on("error", (error: Error) => {
      // Every failed connection attempt emits this: log once per outage, at the change.
      if (this.#wasReady) this.#logger.warn("redis connection error", { error: describe(error) });
    });
    this.client.on("ready", () => {
      this.#wasReady = true;
      this.#failedUntil = 0;
      this.#logger.info("redis connection ready");
    });
    this.client.on("close", () => {
      if (this.#wasReady && !this.#closed) this.#logger.warn("redis connection lost: reconnecting, local fallbacks in use");
      this.#wasReady = false;
    });
  }

  /** True when commands may be sent: connected and not cooling down after a failure. */
  get available(): boolean {
    return this.client.status === "ready" && Date.now() >= this.#failedUntil;
  }

  /** True when connected (a failed command does not change this). */
  get connected(): boolean {
    return this.client.status === "ready";
  }

  /**
   * Connects; resolves when ready or after the connect timeout, whichever is first, and never
   * rejects: while Redis is unreachable the client keeps reconnecting in the background.
   */
  async start(): Promise<void> {
    if (this.client.status !== "wait") return;
    const timeoutMs = this.#options.connectTimeoutMs ?? 1000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.client.connect().catch((error: unknown) => {
        this.#logger.warn("redis not reachable at start: local fallbacks in use until it is", { error: describe(error) });
      }),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /** Records a failed command: logged (never with arguments), Redis skipped for the cool-down. */
  failed(what: string, error: unknown): void {
    this.failures++;
    const now = Date.now();
    if (now >= this.#failedUntil) this.#logger.warn("redis command failed: local fallback for now", { what, error: describe(error) });
    this.#failedUntil = now + this.#coolDownMs;
  }

  /** Another connection to the same server with the same settings (e.g. for subscribing). */
  duplicate(name: string): RedisConnection {
    return new RedisConnection(this.#url, { ...this.#options, name });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.client.status === "ready") {
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
  }
}

/** connectRedis(url, options): a RedisConnection, not yet connected (call start()). */
export function connectRedis(url: string, options: RedisConnectionOptions): RedisConnection {
  return new RedisConnection(url, options);
}

/** The error's name and message, without a stack (ioredis messages carry host:port, no password). */
export function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return typeof error;
}
