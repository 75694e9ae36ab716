// The background work of key-service, run on an interval with the injected clock: automatic
// rotation of what is due, destruction of keys whose deletion window has ended, removal of
// imported key material that has expired, and of expired import tokens. All state lives in the store, so a restarted
// service picks up exactly where the last one stopped; each step is a conditional write, so
// two runs (or two replicas) never rotate a key twice for one period. While key-service is
// sealed the jobs skip quietly (nothing they do may run without the root key) and resume on
// the first tick after unsealing. Deleting an HSM key destroys its token objects first; when
// the HSM cannot be reached the key stays pending and the next tick tries again.
import { KeyState, KeyVersionSource, Origin } from "@keyhold/proto";
import type { LeaseManager } from "@keyhold/coordination";
import type { Logger } from "@keyhold/server-kit";
import type { Clock } from "../context.ts";
import type { KeyStore } from "../store/key-store.ts";
import type { KeyRecord } from "../store/records.ts";
import type { HsmKeys } from "./hsm-keys.ts";
import type { KeyMaterials } from "./key-materials.ts";
import type { RootKeyProvider } from "./root-key.ts";
import { nextRotation, rotate } from "./rotation.ts";
import type { SealControl } from "./sealed-root-key.ts";

export interface KeyJobDeps {
  readonly store: KeyStore;
  readonly materials: KeyMaterials;
  readonly hsmKeys: HsmKeys;
  readonly seal: SealControl;
  readonly rootKey: RootKeyProvider;
  readonly newId: () => string;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface KeyJobReport {
  readonly rotated: number;
  readonly deleted: number;
  readonly expired: number;
  /** True when the run did nothing because key-service is sealed. */
  readonly sealed: boolean;
}

const BATCH = 100;

/** The lease the timer's runs take, so that one replica at a time runs the jobs. */
export const KEY_JOBS_LEASE = "key-service.jobs";

export class KeyJobs {
  readonly #deps: KeyJobDeps;
  readonly #intervalMs: number;
  readonly #leases: LeaseManager | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<KeyJobReport> | undefined;
  #stopped = false;

  /** With `leases`, a timer's run happens only on the replica holding the jobs' lease. */
  constructor(deps: KeyJobDeps, intervalMs: number, leases?: LeaseManager) {
    this.#deps = deps;
    this.#intervalMs = intervalMs;
    this.#leases = leases;
  }

  /** Runs the jobs now and then every interval (the timer does not keep the process alive). */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const leases = this.#leases;
    const run = () => (leases === undefined ? this.runOnce() : leases.runExclusive(KEY_JOBS_LEASE, Math.max(this.#intervalMs, 30_000), () => this.runOnce()));
    const tick = () => {
      run()
        .catch((error: unknown) => this.#deps.logger.error("key jobs failed", { error: String(error) }))
        .finally(() => {
          if (!this.#stopped) {
            this.#timer = setTimeout(tick, this.#intervalMs);
            this.#timer.unref();
          }
        });
    };
    this.#timer = setTimeout(tick, 0);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** One pass of every job at the clock's current time; runs never overlap. */
  runOnce(): Promise<KeyJobReport> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<KeyJobReport> {
    if (this.#deps.seal.status().sealed) return { rotated: 0, deleted: 0, expired: 0, sealed: true };
    const now = this.#deps.clock.now();
    const deleted = await this.#deleteDue(now);
    const expired = await this.#expireMaterial(now);
    await this.#deps.store.deleteExpiredImportTokens(now);
    const rotated = await this.#rotateDue(now);
    return { rotated, deleted, expired, sealed: false };
  }

  async #rotateDue(now: Date): Promise<number> {
    const { store, logger } = this.#deps;
    let rotated = 0;
    for (;;) {
      const due = await store.keysDueForRotation(now, BATCH);
      let progressed = false;
      for (const key of due) {
        if (key.nextRotationAt === undefined || key.rotationPeriodDays === 0) continue;
        try {
          const done = await rotate(this.#deps, key, KeyVersionSource.AUTOMATIC_ROTATION, now, {
            expected: key.nextRotationAt,
            next: nextRotation(key.nextRotationAt, key.rotationPeriodDays, now),
          });
          if (done !== undefined) {
            rotated++;
            progressed = true;
            logger.info("rotated key on schedule", { keyId: key.keyId, keyVersionId: done.version.versionId });
          }
        } catch (error) {
          logger.error("automatic rotation failed", { keyId: key.keyId, error: String(error) });
        }
      }
      if (due.length < BATCH || !progressed) return rotated;
    }
  }

  async #deleteDue(now: Date): Promise<number> {
    const { store, materials, logger } = this.#deps;
    let deleted = 0;
    for (;;) {
      const due = await store.keysDueForDeletion(now, BATCH);
      let skipped = 0;
      for (const key of due) {
        if (key.origin === Origin.HSM && !(await this.#destroyTokenObjects(key))) {
          skipped++;
          continue;
        }
        // Only while still due: a replica may have cancelled the deletion since the listing.
        const versionIds = await store.purgeKey(key.accountId, key.keyId, { dueBy: now });
        if (versionIds.length === 0) continue;
        for (const versionId of versionIds) materials.forget(versionId);
        deleted++;
        logger.info("deleted key and destroyed its key material", { keyId: key.keyId, versions: versionIds.length });
      }
      // Keys left pending (HSM out of reach) would come back in every batch: stop for this tick.
      if (due.length < BATCH || skipped > 0) return deleted;
    }
  }

  /** Destroys every version's token object of an HSM key; false (logged) when the HSM could not be reached. */
  async #destroyTokenObjects(key: KeyRecord): Promise<boolean> {
    const { store, hsmKeys, logger } = this.#deps;
    let after: string | undefined;
    try {
      do {
        const page = await store.listVersions(key.accountId, key.keyId, after, BATCH);
        for (const version of page.items) await hsmKeys.destroy(version.versionId);
        after = page.next;
      } while (after !== undefined);
      return true;
    } catch (error) {
      logger.warn("could not destroy an HSM key's token objects: the key stays pending deletion and is retried", { keyId: key.keyId, error: String(error) });
      return false;
    }
  }

  async #expireMaterial(now: Date): Promise<number> {
    const { store, materials, logger } = this.#deps;
    let expired = 0;
    for (;;) {
      const due = await store.keysWithExpiredMaterial(now, BATCH);
      for (const key of due) {
        // Checked again inside the write: a re-import since the listing moved the expiry on.
        let destroyed = false;
        await store.updateKey(key.accountId, key.keyId, (current) => {
          destroyed = current.materialExpiresAt !== undefined && current.materialExpiresAt.getTime() <= now.getTime();
          if (!destroyed) return undefined;
          return { primaryVersionMaterial: Buffer.alloc(0), ...(current.state === KeyState.PENDING_DELETION ? {} : { state: KeyState.PENDING_IMPORT }) };
        });
        if (!destroyed) continue;
        materials.forget(key.primaryVersionId);
        expired++;
        logger.info("imported key material expired and was deleted", { keyId: key.keyId });
      }
      if (due.length < BATCH) return expired;
    }
  }
}
