// The background work of secrets-service, on an interval (and by hand in tests, with an
// injected clock): due automatic rotations (one at a time per secret; a failure is recorded and
// retried later), purges of secrets whose recovery window ended, and disabling API keys whose
// grace period after a rotation ended. Everything it needs is in the store, so a restart
// continues where the last process stopped.
import type { LeaseManager } from "@keyhold/coordination";
import type { IamService } from "@keyhold/proto";
import type { Client } from "@connectrpc/connect";
import type { Logger } from "@keyhold/server-kit";
import type { Clock } from "../../context.ts";
import type { SecretStore } from "../../store/secret-store.ts";
import { disableApiKey } from "./api-key-rotation.ts";
import { isRotationInProgress, type Rotator } from "./rotator.ts";

const BATCH = 100;

/** The lease a timer's pass takes, so that one replica at a time runs the scheduler. */
export const SCHEDULER_LEASE = "secrets-service.scheduler";

export interface SchedulerDeps {
  readonly store: SecretStore;
  readonly rotator: Rotator;
  readonly iam: Client<typeof IamService>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly intervalMs: number;
  /** When given, a timer's pass runs only on the replica holding SCHEDULER_LEASE. */
  readonly leases?: LeaseManager;
}

export interface TickResult {
  readonly rotated: number;
  readonly failed: number;
  readonly purged: number;
  readonly keysDisabled: number;
}

export class Scheduler {
  private readonly deps: SchedulerDeps;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<TickResult> | undefined;

  constructor(deps: SchedulerDeps) {
    this.deps = deps;
  }

  start(): void {
    if (this.timer !== undefined) return;
    const leases = this.deps.leases;
    const pass = () => (leases === undefined ? this.tick() : leases.runExclusive(SCHEDULER_LEASE, Math.max(this.deps.intervalMs, 30_000), () => this.tick()));
    this.timer = setInterval(() => {
      pass().catch((error: unknown) => this.deps.logger.error("secrets scheduler tick failed", { cause: error instanceof Error ? error.message : "unknown" }));
    }, this.deps.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking?.catch(() => undefined);
  }

  /** One pass over what is due now. Concurrent calls share the pass that is running. */
  tick(): Promise<TickResult> {
    this.ticking ??= this.pass().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async pass(): Promise<TickResult> {
    const { store, rotator, clock, logger } = this.deps;
    let rotated = 0;
    let failed = 0;
    let purged = 0;
    let keysDisabled = 0;
    for (const secret of await store.duePurges(clock.now(), BATCH)) {
      if (rotator.isRunning(secret.secretId)) continue;
      await store.purgeSecret(secret.secretId);
      purged++;
    }
    for (const secret of await store.dueRotations(clock.now(), BATCH)) {
      if (rotator.isRunning(secret.secretId)) continue;
      try {
        await rotator.rotate(secret, undefined, undefined, true);
        rotated++;
      } catch (error) {
        // Another replica rotates it (or just did): not a failure of this one.
        if (!isRotationInProgress(error)) failed++;
      }
    }
    for (const retirement of await store.dueApiKeyRetirements(clock.now(), BATCH)) {
      try {
        await disableApiKey(this.deps.iam, retirement.accountId, retirement.apiKeyId);
        await store.removeApiKeyRetirement(retirement.apiKeyId);
        keysDisabled++;
      } catch (error) {
        logger.warn("disabling a rotated-out API key failed; retrying later", { cause: error instanceof Error ? error.message : "unknown" });
      }
    }
    return { rotated, failed, purged, keysDisabled };
  }
}
