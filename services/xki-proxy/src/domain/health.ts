// The deep health check (XKS GetHealthStatus): an AES-GCM encryption and decryption with a
// dedicated test key in the HSM (never a customer key), its result reused for at most the
// configured time (≤ one minute, as the spec allows). Concurrent requests share one check.
import { randomBytes } from "node:crypto";
import { KeyholdError } from "@keyhold/server-kit";
import type { ExternalHsm } from "./external-hsm.ts";

export type HsmHealth = "ACTIVE" | "DEGRADED" | "UNAVAILABLE";

export interface HealthResult {
  readonly status: HsmHealth;
  /** When the check ran (performance.now()). */
  readonly at: number;
  /** Why it failed (a Keyhold reason), when it did. */
  readonly error?: KeyholdError;
}

export interface HealthCheckOptions {
  readonly hsm: ExternalHsm;
  readonly keyLabel: string;
  readonly cacheMs: number;
  readonly deadlineMs: number;
  readonly now?: () => number;
}

export class HealthCheck {
  readonly #options: HealthCheckOptions;
  readonly #now: () => number;
  #last: HealthResult | undefined;
  #running: Promise<HealthResult> | undefined;

  constructor(options: HealthCheckOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** A result no older than the cache time (running a check when there is none). */
  current(): Promise<HealthResult> {
    const last = this.#last;
    if (last !== undefined && this.#now() - last.at <= this.#options.cacheMs) return Promise.resolve(last);
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<HealthResult> {
    const started = this.#now();
    const deadline = started + this.#options.deadlineMs;
    const probe = randomBytes(32);
    const aad = Buffer.from("keyhold-xki-health", "utf8");
    let result: HealthResult;
    try {
      const sealed = await this.#options.hsm.encrypt(this.#options.keyLabel, probe, aad, deadline).catch(async (error: unknown) => {
        // The test key is missing (the HSM was down at start, or someone deleted it): make it once more.
        if (!(error instanceof KeyholdError && error.reason === "KEY_NOT_FOUND")) throw error;
        await this.#options.hsm.ensureKey(this.#options.keyLabel, deadline);
        return this.#options.hsm.encrypt(this.#options.keyLabel, probe, aad, deadline);
      });
      const back = await this.#options.hsm.decrypt(this.#options.keyLabel, sealed, aad, deadline);
      if (!back.equals(probe)) throw new KeyholdError("HSM_UNAVAILABLE", "the health check key did not decrypt what it encrypted");
      // Slower than half the deadline: it serves, but close to KMS's budget.
      const status: HsmHealth = this.#now() - started > this.#options.deadlineMs / 2 ? "DEGRADED" : "ACTIVE";
      result = { status, at: this.#now() };
    } catch (error) {
      const reason = error instanceof KeyholdError ? error : new KeyholdError("INTERNAL", "the health check failed", { cause: error });
      result = { status: "UNAVAILABLE", at: this.#now(), error: reason };
    }
    this.#last = result;
    return result;
  }
}
