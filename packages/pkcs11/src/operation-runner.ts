// Runs one operation on a leased session within a deadline, and turns its outcome into the
// pool's recovery and the caller's error: the CKR_* table (ckr.ts) decides both. Operations
// that are safe to repeat run once more on a fresh session after a session, login or module
// failure. An operation that outlives the deadline answers HSM_TIMEOUT at once; its session is
// released (and its `late` hook told) only when the native call really ends.
import { KeyholdError } from "@keyhold/server-kit";
import { ckrOf, ckrRule, type Recovery } from "./ckr.ts";
import type { HsmMetrics } from "./metrics.ts";
import type { Lease, SessionPool } from "./session-pool.ts";
import { TokenUnavailableError } from "./token.ts";

export interface RunOptions {
  /** Method name, for metrics. */
  readonly method: string;
  /** Whether running it twice is harmless (then a session-level failure is retried once). */
  readonly retry: boolean;
  /** performance.now() time by which the call must have answered. */
  readonly deadline: number;
  readonly signal?: AbortSignal;
  /** Told when the operation succeeded after its caller had been answered HSM_TIMEOUT. */
  readonly late?: (lease: Lease) => void;
}

export class OperationRunner {
  readonly #pool: SessionPool;
  readonly #metrics: HsmMetrics;

  constructor(pool: SessionPool, metrics: HsmMetrics) {
    this.#pool = pool;
    this.#metrics = metrics;
  }

  async run<T>(options: RunOptions, operation: (lease: Lease) => T | Promise<T>): Promise<T> {
    this.#metrics.operation(options.method);
    for (let attempt = 0; ; attempt++) {
      let lease: Lease;
      try {
        lease = await this.#pool.acquire(options.deadline, options.signal);
      } catch (error) {
        this.#metrics.error(options.method, error instanceof KeyholdError ? (error.metadata["ckr"] ?? error.reason) : "INTERNAL");
        throw error;
      }
      try {
        return await this.#withinDeadline(lease, options, operation);
      } catch (error) {
        if (error instanceof RetryableFailure && options.retry && attempt === 0) continue;
        throw error instanceof RetryableFailure ? error.error : error;
      }
    }
  }

  /**
   * Runs a synchronous inline operation (microseconds: AES-GCM) at once on a session that is free
   * right now, without the queue and deadline timer of run(); undefined when no session is free,
   * or when it failed in a way a fresh session may not (the caller then uses run(), which waits
   * and retries). A refusal (a KeyholdError, or a CKR_* that is the input's fault) is thrown.
   */
  runNow<T>(method: string, operation: (lease: Lease) => T): { readonly value: T } | undefined {
    let lease: Lease | undefined;
    try {
      lease = this.#pool.takeNow();
    } catch (error) {
      this.#metrics.operation(method);
      this.#metrics.error(method, error instanceof KeyholdError ? (error.metadata["ckr"] ?? error.reason) : "INTERNAL");
      throw error;
    }
    if (lease === undefined) return undefined;
    this.#metrics.operation(method);
    let value: T;
    try {
      value = operation(lease);
    } catch (error) {
      const failure = this.#classify(method, error);
      this.#pool.release(lease, failure.recovery);
      if (failure.recovery !== "none") return undefined;
      throw failure.error;
    }
    this.#pool.release(lease, "none");
    return { value };
  }

  #withinDeadline<T>(lease: Lease, options: RunOptions, operation: (lease: Lease) => T | Promise<T>): Promise<T> {
    let answered = false;
    const settled = new Promise<T>((resolve) => resolve(operation(lease))).then(
      (value) => {
        this.#pool.release(lease, "none");
        if (answered) options.late?.(lease);
        return value;
      },
      (error: unknown) => {
        const failure = this.#classify(options.method, error);
        this.#pool.release(lease, failure.recovery);
        throw failure.recovery === "none" ? failure.error : new RetryableFailure(failure.error);
      },
    );
    const remaining = options.deadline - performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        answered = true;
        this.#metrics.error(options.method, "HSM_TIMEOUT");
        reject(new KeyholdError("HSM_TIMEOUT", `the HSM operation did not finish within the deadline`));
      }, Math.max(0, remaining));
    });
    // A late failure is accounted for in #classify; nobody waits for it any more.
    settled.catch(() => undefined);
    return Promise.race([settled, timeout]).finally(() => clearTimeout(timer));
  }

  #classify(method: string, error: unknown): { error: unknown; recovery: Recovery } {
    if (error instanceof KeyholdError) return { error, recovery: "none" };
    const ckr = error instanceof TokenUnavailableError ? (error.ckr ?? "CKR_TOKEN_NOT_PRESENT") : ckrOf(error);
    if (ckr === undefined) {
      this.#metrics.error(method, "INTERNAL");
      return { error, recovery: "session" };
    }
    this.#metrics.error(method, ckr);
    const rule = ckrRule(ckr);
    const message = rule.reason === "HSM_UNAVAILABLE" ? `the HSM failed: ${ckr}` : `the HSM refused the operation: ${ckr}`;
    return { error: new KeyholdError(rule.reason, message, { cause: error, metadata: { ckr } }), recovery: rule.recovery };
  }
}

/** A failure after which a fresh session may succeed. */
class RetryableFailure extends Error {
  override readonly name = "RetryableFailure";
  readonly error: unknown;
  constructor(error: unknown) {
    super("retryable HSM failure");
    this.error = error;
  }
}
