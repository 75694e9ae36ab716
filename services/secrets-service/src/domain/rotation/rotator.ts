// Runs a rotation: the four steps (create / set / test / finish, as AWS rotation functions) of
// the secret's rotation, at most one per secret at a time (an in-process guard plus a lease in
// the store, so replicas and a restart after a crash agree). A failing step leaves CURRENT where
// it was and the new version under PENDING; the next rotation resumes with the same version id,
// so every step runs again idempotently.
import { RotationStep, SecretType } from "@keyhold/proto";
import { KeyholdError, type Logger } from "@keyhold/server-kit";
import type { SecretsServiceConfig } from "../../config.ts";
import type { Clock } from "../../context.ts";
import type { SecretRecord } from "../../store/records.ts";
import type { SecretStore } from "../../store/secret-store.ts";
import { CURRENT, PENDING, versionWith } from "../labels.ts";
import { secretKrn, secretNotFound } from "../names.ts";

/** One secret's rotation, step by step. */
export interface RotationSteps {
  run(step: RotationStep, secret: SecretRecord, secretKrn: string, versionId: string, signal: AbortSignal): Promise<void>;
}

/** The rotation of a secret (a RotationHandler for generic secrets, built in for managed types). */
export type StepsFor = (secret: SecretRecord) => RotationSteps;

export interface RotatorDeps {
  readonly config: SecretsServiceConfig;
  readonly store: SecretStore;
  readonly clock: Clock;
  readonly newId: () => string;
  readonly logger: Logger;
}

/** After a failed automatic rotation, the next attempt waits this long (at most the interval). */
export const ROTATION_RETRY_MS = 3_600_000;

export const STEP_NAMES: Readonly<Record<number, string>> = {
  [RotationStep.CREATE]: "create",
  [RotationStep.SET]: "set",
  [RotationStep.TEST]: "test",
  [RotationStep.FINISH]: "finish",
};

function describeFailure(error: unknown): string {
  if (error instanceof KeyholdError) return `${error.reason}: ${error.message}`;
  if (error instanceof Error) return error.message.slice(0, 512);
  return "unknown error";
}

export class Rotator {
  private readonly deps: RotatorDeps;
  private readonly stepsFor: StepsFor;
  private readonly running = new Set<string>();

  constructor(deps: RotatorDeps, stepsFor: StepsFor) {
    this.deps = deps;
    this.stepsFor = stepsFor;
  }

  /** Throws unless the secret can be rotated now (has a value; generic secrets need a handler). */
  async checkRotatable(secret: SecretRecord): Promise<void> {
    if (secret.secretType === SecretType.GENERIC && secret.rotationHandlerUrl === "") {
      throw new KeyholdError("ROTATION_FAILED", "secret_id: the secret has no rotation handler (set one with UpdateSecretRotationPolicy)", { field: "secret_id" });
    }
    if (versionWith(await this.deps.store.labels(secret.secretId), CURRENT) === undefined) {
      throw new KeyholdError("ROTATION_FAILED", "secret_id: the secret has no value to rotate", { field: "secret_id" });
    }
  }

  /** Whether a rotation of this secret runs in this process now. */
  isRunning(secretId: string): boolean {
    return this.running.has(secretId);
  }

  /**
   * Rotates now; returns the version id that is CURRENT afterwards. `onVersion` learns the
   * rotation's version id as soon as it is chosen (for the audit event). With `onlyIfDue` (the
   * scheduler) it rotates only while the automatic rotation is still due when it takes the lease,
   * so replicas that saw the same due secret rotate it once.
   */
  async rotate(given: SecretRecord, requestedVersionId?: string, onVersion?: (versionId: string) => void, onlyIfDue = false): Promise<string> {
    const { store, clock, config } = this.deps;
    if (this.running.has(given.secretId)) throw inProgress();
    // As stored now (the caller's record may come from a replica's cache): the rotation's token,
    // handler and type decide what runs.
    const secret = await store.getSecretById(given.secretId);
    if (secret === undefined) throw secretNotFound("secret_id");
    try {
      await this.checkRotatable(secret);
    } catch (error) {
      // Recorded (and an automatic rotation retried later), without touching a running rotation's lease.
      if (secret.rotationEnabled) {
        const retryIn = Math.min(ROTATION_RETRY_MS, Math.max(secret.rotationIntervalSeconds * 1000, 60_000));
        await store.updateSecret(secret.secretId, { lastRotationError: describeFailure(error), nextRotationAt: new Date(clock.now().getTime() + retryIn) });
      }
      throw error;
    }
    const labels = await store.labels(secret.secretId);
    const pending = versionWith(labels, PENDING);
    // Resume the failed rotation (its PENDING version) unless the caller names a version.
    const versionId = requestedVersionId ?? (pending !== undefined && pending === secret.rotationToken ? pending : this.deps.newId());
    onVersion?.(versionId);
    const now = clock.now();
    if (!(await store.acquireRotation(secret.secretId, versionId, now, new Date(now.getTime() + config.rotationLeaseMs), onlyIfDue))) throw inProgress();
    this.running.add(secret.secretId);
    const krn = secretKrn(config.region, secret.accountId, secret.name);
    const steps = this.stepsFor(secret);
    let current = RotationStep.CREATE as RotationStep;
    try {
      for (const step of [RotationStep.CREATE, RotationStep.SET, RotationStep.TEST, RotationStep.FINISH]) {
        current = step;
        await withTimeout(config.rotationStepTimeoutMs, (signal) => steps.run(step, secret, krn, versionId, signal));
      }
      if (versionWith(await store.labels(secret.secretId), CURRENT) !== versionId) {
        throw new Error(`the finish step did not move CURRENT to version ${versionId}`);
      }
    } catch (error) {
      const reason = `${STEP_NAMES[current]} step failed: ${describeFailure(error)}`;
      const after = clock.now();
      // The rotation policy as stored when written (it may have changed while the steps ran).
      await store.finishRotation(secret.secretId, versionId, (fresh) => ({
        lastRotationError: reason,
        rotationToken: versionId,
        ...(fresh.rotationEnabled
          ? { nextRotationAt: new Date(after.getTime() + Math.min(ROTATION_RETRY_MS, Math.max(fresh.rotationIntervalSeconds * 1000, 60_000))) }
          : {}),
      }));
      this.deps.logger.warn("secret rotation failed", { secretId: secret.secretId, step: STEP_NAMES[current] ?? "", reason: error instanceof KeyholdError ? error.reason : "handler" });
      throw new KeyholdError("ROTATION_FAILED", `secret_id: rotation ${reason}`, { field: "secret_id", cause: error });
    } finally {
      this.running.delete(secret.secretId);
    }
    const done = clock.now();
    // A rotation that outlived its lease and was taken over leaves the outcome to the one that took it.
    const finished = await store.finishRotation(secret.secretId, versionId, (fresh) => ({
      lastRotatedAt: done,
      lastRotationError: "",
      rotationToken: undefined,
      nextRotationAt: fresh.rotationEnabled ? new Date(done.getTime() + fresh.rotationIntervalSeconds * 1000) : undefined,
      updatedAt: done,
    }));
    if (!finished) this.deps.logger.warn("secret rotation outlived its lease; another rotation took the secret over", { secretId: secret.secretId });
    return versionId;
  }
}

/** Whether `error` says another rotation holds the secret (or, for the scheduler, just did it). */
export function isRotationInProgress(error: unknown): boolean {
  return error instanceof KeyholdError && error.reason === "ROTATION_IN_PROGRESS";
}

function inProgress(): KeyholdError {
  return new KeyholdError("ROTATION_IN_PROGRESS", "secret_id: a rotation of this secret is running", { field: "secret_id" });
}

async function withTimeout(ms: number, run: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`timed out after ${ms} ms`));
    }, ms);
  });
  try {
    await Promise.race([run(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
