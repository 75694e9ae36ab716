// Leases make a scheduled job run on one replica at a time: runExclusive(name, ttlMs, fn) runs
// fn only when this replica holds the lease `name`, renews it while fn runs, and releases it
// after. A lease that cannot be taken (another replica holds it, or the lease store cannot be
// reached) means "skip this tick": jobs are not calls, and the next tick tries again.
import type { Logger } from "@keyhold/server-kit";

export interface Lease {
  readonly name: string;
  /** Aborted when the lease was lost (renewal failed or it expired): stop work soon. */
  readonly signal: AbortSignal;
  /** Extends the lease by its ttl; false when it is no longer held. */
  renew(): Promise<boolean>;
  /** Gives the lease up (only if still held by this holder). */
  release(): Promise<void>;
}

export interface LeaseManager {
  /** Takes the lease, or undefined when it is held elsewhere or cannot be taken now. */
  acquire(name: string, ttlMs: number): Promise<Lease | undefined>;
  /**
   * Runs fn holding the lease (renewed every ttl/3 while fn runs, released after). Resolves to
   * fn's result, or to undefined without running fn when the lease was not acquired.
   */
  runExclusive<T>(name: string, ttlMs: number, fn: (lease: Lease) => Promise<T>): Promise<T | undefined>;
}

/** runExclusive on top of acquire, the same for every LeaseManager. */
export async function runWithLease<T>(
  manager: Pick<LeaseManager, "acquire">,
  name: string,
  ttlMs: number,
  fn: (lease: Lease) => Promise<T>,
  logger: Logger,
): Promise<T | undefined> {
  const lease = await manager.acquire(name, ttlMs);
  if (lease === undefined) {
    logger.debug("lease not acquired: skipping this run", { lease: name });
    return undefined;
  }
  const renewEvery = Math.max(1, Math.floor(ttlMs / 3));
  const timer = setInterval(() => {
    lease.renew().then(
      (held) => {
        if (!held) logger.warn("lease lost while running", { lease: name });
      },
      () => undefined,
    );
  }, renewEvery);
  timer.unref();
  try {
    return await fn(lease);
  } finally {
    clearInterval(timer);
    await lease.release();
  }
}

/**
 * One process, no other replica: every lease is granted, except that one name is held by one
 * runner at a time (a second runExclusive of the same name while the first runs is skipped).
 */
export class InProcessLeaseManager implements LeaseManager {
  readonly #held = new Set<string>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger.child({ component: "leases" });
  }

  acquire(name: string, _ttlMs: number): Promise<Lease | undefined> {
    if (this.#held.has(name)) return Promise.resolve(undefined);
    this.#held.add(name);
    const controller = new AbortController();
    let released = false;
    return Promise.resolve({
      name,
      signal: controller.signal,
      renew: () => Promise.resolve(!released),
      release: () => {
        if (!released) {
          released = true;
          this.#held.delete(name);
        }
        return Promise.resolve();
      },
    });
  }

  runExclusive<T>(name: string, ttlMs: number, fn: (lease: Lease) => Promise<T>): Promise<T | undefined> {
    return runWithLease(this, name, ttlMs, fn, this.#logger);
  }
}
