// The application side of secrets-service: read secrets at run time through an in-memory cache
// instead of hard-coding them. As AWS's and Alibaba's caching clients:
//   - each value is kept for a TTL (default 1 hour, per-secret override), then fetched again;
//   - when a refresh fails, the stale value keeps being served and the next attempt waits with
//     exponential backoff (so an outage of the service does not take the application down, and
//     the application does not hammer the service);
//   - refreshNow() fetches at once (e.g. after an authentication failure with the cached value);
//   - a secret is fetched by label (default CURRENT; e.g. PREVIOUS during a rotation) or version id.
// Concurrent reads of one entry share one fetch. Values live only in memory.
import type { Client } from "@connectrpc/connect";
import type { GetSecretValueResponse, SecretsService } from "@keyhold/proto";

export const DEFAULT_TTL_MS = 3_600_000;
const DEFAULT_BACKOFF_INITIAL_MS = 1_000;
const DEFAULT_BACKOFF_MAX_MS = 300_000;

export interface SecretsCacheOptions {
  /** A SecretsService client (any transport: gRPC, Connect, gRPC-Web). */
  readonly client: Client<typeof SecretsService>;
  /** How long a value is served before it is fetched again (default 1 hour). */
  readonly ttlMs?: number;
  /** The first wait after a failed refresh; doubled per further failure up to backoffMaxMs. */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** Milliseconds since the epoch (injected in tests). */
  readonly now?: () => number;
  /** Per-call options for the client (e.g. timeoutMs). */
  readonly callTimeoutMs?: number;
}

export interface FetchOptions {
  /** A stage label (CURRENT, PREVIOUS, PENDING in any spelling, or a custom one). Default CURRENT. */
  readonly versionStage?: string;
  /** A version id (instead of a label). */
  readonly versionId?: string;
  /** This secret's TTL, overriding the cache's (remembered for the entry). */
  readonly ttlMs?: number;
}

export interface CachedSecret {
  readonly name: string;
  readonly krn: string;
  readonly versionId: string;
  readonly versionStages: readonly string[];
  /** Set for string secrets. */
  readonly secretString: string | undefined;
  /** Set for binary secrets. */
  readonly secretBinary: Uint8Array | undefined;
  /** When this value was fetched (ms since the epoch). */
  readonly fetchedAt: number;
  /** True when the value is past its TTL and served because refreshing failed. */
  readonly stale: boolean;
}

interface Entry {
  value: Omit<CachedSecret, "stale"> | undefined;
  ttlMs: number;
  expiresAt: number;
  failures: number;
  retryAt: number;
  inflight: Promise<Omit<CachedSecret, "stale">> | undefined;
  lastError: unknown;
}

export class SecretsCache {
  private readonly client: Client<typeof SecretsService>;
  private readonly ttlMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly now: () => number;
  private readonly callTimeoutMs: number | undefined;
  private readonly entries = new Map<string, Entry>();

  constructor(options: SecretsCacheOptions) {
    this.client = options.client;
    this.ttlMs = positive(options.ttlMs ?? DEFAULT_TTL_MS, "ttlMs");
    this.backoffInitialMs = positive(options.backoffInitialMs ?? DEFAULT_BACKOFF_INITIAL_MS, "backoffInitialMs");
    this.backoffMaxMs = positive(options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS, "backoffMaxMs");
    this.now = options.now ?? Date.now;
    this.callTimeoutMs = options.callTimeoutMs;
  }

  /** The secret, from the cache while fresh; stale (with backoff) while refreshing fails. */
  async getSecret(secretId: string, options: FetchOptions = {}): Promise<CachedSecret> {
    const entry = this.entry(secretId, options);
    const now = this.now();
    if (entry.value !== undefined && now < entry.expiresAt) return { ...entry.value, stale: false };
    if (entry.value !== undefined && now < entry.retryAt) return { ...entry.value, stale: true };
    try {
      return { ...(await this.fetch(secretId, options, entry)), stale: false };
    } catch (error) {
      if (entry.value === undefined) throw error;
      return { ...entry.value, stale: true };
    }
  }

  /** The secret's string value (throws for a binary secret). */
  async getSecretString(secretId: string, options: FetchOptions = {}): Promise<string> {
    const secret = await this.getSecret(secretId, options);
    if (secret.secretString === undefined) throw new Error(`secret ${secretId} holds binary data, not a string`);
    return secret.secretString;
  }

  /** Fetches now, whatever the TTL; throws when the fetch fails (the cached value stays). */
  async refreshNow(secretId: string, options: FetchOptions = {}): Promise<CachedSecret> {
    const entry = this.entry(secretId, options);
    return { ...(await this.fetch(secretId, options, entry)), stale: false };
  }

  /** Forgets a secret (every label and version of it). */
  invalidate(secretId: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(`${secretId}\0`)) this.entries.delete(key);
  }

  /** Forgets everything. */
  clear(): void {
    this.entries.clear();
  }

  private entry(secretId: string, options: FetchOptions): Entry {
    if (secretId === "") throw new Error("secretId is required");
    const key = `${secretId}\0${options.versionId ?? ""}\0${options.versionStage ?? ""}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { value: undefined, ttlMs: this.ttlMs, expiresAt: 0, failures: 0, retryAt: 0, inflight: undefined, lastError: undefined };
      this.entries.set(key, entry);
    }
    if (options.ttlMs !== undefined) entry.ttlMs = positive(options.ttlMs, "ttlMs");
    return entry;
  }

  private fetch(secretId: string, options: FetchOptions, entry: Entry): Promise<Omit<CachedSecret, "stale">> {
    entry.inflight ??= (async () => {
      try {
        const response = await this.client.getSecretValue(
          { secretId, versionId: options.versionId ?? "", versionStage: options.versionStage ?? "" },
          this.callTimeoutMs === undefined ? {} : { timeoutMs: this.callTimeoutMs },
        );
        const fetchedAt = this.now();
        const value = toCached(response, fetchedAt);
        entry.value = value;
        entry.expiresAt = fetchedAt + entry.ttlMs;
        entry.failures = 0;
        entry.retryAt = 0;
        entry.lastError = undefined;
        return value;
      } catch (error) {
        entry.failures++;
        entry.lastError = error;
        entry.retryAt = this.now() + Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** (entry.failures - 1));
        throw error;
      } finally {
        entry.inflight = undefined;
      }
    })();
    return entry.inflight;
  }
}

function toCached(response: GetSecretValueResponse, fetchedAt: number): Omit<CachedSecret, "stale"> {
  const binary = response.secretBinary.length > 0;
  return {
    name: response.name,
    krn: response.krn,
    versionId: response.versionId,
    versionStages: [...response.versionStages],
    secretString: binary ? undefined : response.secretString,
    secretBinary: binary ? new Uint8Array(response.secretBinary) : undefined,
    fetchedAt,
  };
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of milliseconds`);
  return value;
}
