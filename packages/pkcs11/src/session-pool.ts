// The session pool: sessions are opened on demand up to the capacity and then reused, never
// opened per call; each runs one operation at a time (a lease). A caller that finds none free
// waits, in order, until one is released or its deadline passes (HSM_BUSY). A session that
// failed is closed, or makes the token log in again, or takes the whole module down (see
// ckr.ts); after a module failure the pool reconnects once no operation runs any more, at most
// once per reconnect interval after a failed attempt, so a token that comes back is served again within seconds.
import { KeyholdError } from "@keyhold/server-kit";
import type { Recovery } from "./ckr.ts";
import type { PoolGauges } from "./metrics.ts";
import { TokenUnavailableError, type Handle, type Token } from "./token.ts";

export interface Lease {
  readonly session: Handle;
  readonly generation: number;
}

interface Waiter {
  readonly wake: () => void;
}

export interface SessionPoolOptions {
  readonly token: Token;
  readonly capacity: number;
  readonly reconnectIntervalMs: number;
  /** Told how long each acquire waited. */
  readonly onWait?: (ms: number) => void;
  /** Told of each failed reconnect (with the CKR_* name when there is one). */
  readonly onConnectError?: (ckr: string | undefined) => void;
  readonly now?: () => number;
}

export class SessionPool {
  readonly #token: Token;
  readonly #capacity: number;
  readonly #reconnectIntervalMs: number;
  readonly #now: () => number;
  readonly #options: SessionPoolOptions;
  readonly #idle: Handle[] = [];
  readonly #waiters: Waiter[] = [];
  #open = 0;
  #inUse = 0;
  #lastConnectAttempt = Number.NEGATIVE_INFINITY;
  #lastConnectError: TokenUnavailableError | undefined;
  #closed = false;

  constructor(options: SessionPoolOptions) {
    this.#options = options;
    this.#token = options.token;
    this.#capacity = options.capacity;
    this.#reconnectIntervalMs = options.reconnectIntervalMs;
    this.#now = options.now ?? (() => performance.now());
  }

  gauges(): PoolGauges {
    return { size: this.#open, inUse: this.#inUse, waiting: this.#waiters.length, capacity: this.#capacity };
  }

  /** A free session, waiting until `deadline` (a performance.now() time) at most. */
  async acquire(deadline: number, signal?: AbortSignal): Promise<Lease> {
    const started = this.#now();
    try {
      for (;;) {
        if (this.#closed) throw unavailable("the gateway is shutting down");
        signal?.throwIfAborted();
        this.#ensureConnected();
        const lease = this.#take();
        if (lease !== undefined) return lease;
        const remaining = deadline - this.#now();
        if (remaining <= 0) throw new KeyholdError("HSM_BUSY", "no HSM session became free before the deadline", { retryAfterMs: 100 });
        await this.#wait(remaining, signal);
      }
    } finally {
      this.#options.onWait?.(this.#now() - started);
    }
  }

  /**
   * A session that is free right now, or undefined when none is (no waiting, no timer): for
   * operations that run inline in microseconds (AES-GCM). Throws as acquire() does when the
   * token is unavailable or the pool is closed.
   */
  takeNow(): Lease | undefined {
    if (this.#closed) throw unavailable("the gateway is shutting down");
    this.#ensureConnected();
    return this.#take();
  }

  #take(): Lease | undefined {
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      this.#inUse++;
      return { session: idle, generation: this.#token.generation };
    }
    if (this.#open >= this.#capacity) return undefined;
    let session: Handle;
    try {
      session = this.#token.openSession();
    } catch (error) {
      // Opening a session failed: the token is not usable as it is.
      this.#moduleDown();
      throw unavailable("cannot open an HSM session", error);
    }
    this.#open++;
    this.#inUse++;
    return { session, generation: this.#token.generation };
  }

  #ensureConnected(): void {
    if (this.#token.up) return;
    // Sessions of the old connection still run an operation: finalizing now would pull the
    // module from under them. Their calls end soon (they fail, or finish, or time out).
    if (this.#inUse > 0) throw unavailable("the HSM token is reconnecting", this.#lastConnectError);
    // After a failed attempt, wait a little before the next one (a missing token answers fast).
    const now = this.#now();
    if (this.#lastConnectError !== undefined && now - this.#lastConnectAttempt < this.#reconnectIntervalMs) {
      throw unavailable("the HSM token is unavailable", this.#lastConnectError);
    }
    this.#lastConnectAttempt = now;
    this.#idle.length = 0;
    this.#open = 0;
    this.#token.finalize();
    try {
      this.#token.connect();
      this.#lastConnectError = undefined;
    } catch (error) {
      this.#lastConnectError = error instanceof TokenUnavailableError ? error : new TokenUnavailableError("cannot connect", undefined, error);
      this.#options.onConnectError?.(this.#lastConnectError.ckr);
      throw unavailable("the HSM token is unavailable", error);
    }
  }

  /** Tries to reconnect a lost token (for status probes); failures are only remembered. */
  reconnectIfDown(): void {
    if (this.#closed || this.#token.up) return;
    try {
      this.#ensureConnected();
    } catch {
      // Reported by the token's status; the next call tries again.
    }
  }

  #wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiter: Waiter = {
        wake: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", waiter.wake);
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, ms);
      signal?.addEventListener("abort", waiter.wake, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Gives a session back after its operation, with what its outcome says to throw away. */
  release(lease: Lease, recovery: Recovery): void {
    this.#inUse--;
    if (lease.generation !== this.#token.generation) {
      // Opened on a connection that is gone: its handle means nothing any more.
      this.#wakeOne();
      return;
    }
    switch (recovery) {
      case "none":
        if (this.#closed) {
          this.#token.closeSession(lease.session);
          this.#open--;
        } else {
          this.#idle.push(lease.session);
        }
        break;
      case "session":
      case "login":
        this.#token.closeSession(lease.session);
        this.#open--;
        // Whatever closed this session may have closed the login session too (C_CloseAllSessions).
        if (recovery === "login" || !this.#token.loggedIn()) {
          try {
            this.#token.relogin();
          } catch {
            this.#moduleDown();
          }
        }
        break;
      case "module":
        this.#moduleDown();
        break;
    }
    this.#wakeOne();
  }

  #moduleDown(): void {
    if (!this.#token.up && this.#open === 0) return;
    this.#token.markDown();
    this.#idle.length = 0;
    this.#open = 0;
    // Waiters find the token down and fail now instead of at their deadline.
    for (const waiter of [...this.#waiters]) waiter.wake();
  }

  #wakeOne(): void {
    this.#waiters[0]?.wake();
  }

  /** Closes the idle sessions; the token itself is closed by its owner. */
  close(): void {
    this.#closed = true;
    for (const session of this.#idle.splice(0)) this.#token.closeSession(session);
    for (const waiter of [...this.#waiters]) waiter.wake();
  }
}

function unavailable(message: string, cause?: unknown): KeyholdError {
  const ckr = cause instanceof TokenUnavailableError ? cause.ckr : undefined;
  return new KeyholdError("HSM_UNAVAILABLE", message, { cause, ...(ckr === undefined ? {} : { metadata: { ckr } }) });
}
