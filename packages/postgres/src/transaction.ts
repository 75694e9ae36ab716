// One transaction on one pooled client: BEGIN (at the isolation asked for), the caller's work,
// COMMIT; ROLLBACK on any failure. A serialization failure (40001) or deadlock (40P01) reruns
// the whole function after a jittered, growing pause, so the function must be safe to rerun
// (only database work, or work it redoes). The client always goes back to the pool (destroyed
// when its connection is suspect). Unavailability surfaces as DatabaseUnavailableError.
import { setTimeout as sleep } from "node:timers/promises";
import { classifyDatabaseError, isUnavailable } from "./unavailable.ts";
import type { PostgresClient, PostgresPool } from "./pool.ts";

export type IsolationLevel = "read committed" | "repeatable read" | "serializable";

export interface TransactionOptions {
  /** Default "read committed". */
  readonly isolation?: IsolationLevel;
  /** Reruns after a serialization failure or deadlock (default 8). */
  readonly retries?: number;
  /** Read-only transaction (default false). */
  readonly readOnly?: boolean;
}

const RETRYABLE = new Set(["40001", "40P01"]);

/** True for a serialization failure or deadlock: rerunning the transaction may succeed. */
export function isRetryableTransactionError(error: unknown): boolean {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" && RETRYABLE.has(code);
}

export async function withTransaction<T>(pool: PostgresPool, fn: (client: PostgresClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const retries = options.retries ?? 8;
  const begin = `BEGIN ISOLATION LEVEL ${(options.isolation ?? "read committed").toUpperCase()}${options.readOnly === true ? " READ ONLY" : ""}`;
  for (let attempt = 0; ; attempt++) {
    let client: PostgresClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw classifyDatabaseError(error);
    }
    let destroy = false;
    try {
      await client.query(begin);
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      try {
        await client.query("ROLLBACK");
      } catch {
        destroy = true;
      }
      if (isUnavailable(error)) destroy = true;
      if (attempt < retries && isRetryableTransactionError(error)) {
        await sleep(backoffMs(attempt));
        continue;
      }
      throw classifyDatabaseError(error);
    } finally {
      client.release(destroy);
    }
  }
}

/** Full jitter over 5 ms × 2^attempt, at most 500 ms. */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(500, 5 * 2 ** attempt);
}

/** Runs `fn` on one pooled client outside a transaction, releasing it always; unavailability surfaces as DatabaseUnavailableError. */
export async function withClient<T>(pool: PostgresPool, fn: (client: PostgresClient) => Promise<T>): Promise<T> {
  let client: PostgresClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw classifyDatabaseError(error);
  }
  let destroy = false;
  try {
    return await fn(client);
  } catch (error) {
    destroy = isUnavailable(error);
    throw classifyDatabaseError(error);
  } finally {
    client.release(destroy);
  }
}
