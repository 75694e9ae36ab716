// The four steps for secret types secrets-service rotates itself (database and API key
// secrets). Each step is idempotent: CREATE does nothing when the version exists, FINISH nothing
// when CURRENT is already there. Work is done as the secret's account root (the service acting
// for the account, as AWS's rotation runs with the service's role).
import { RotationStep } from "@keyhold/proto";
import { KeyholdError } from "@keyhold/server-kit";
import type { SecretRecord } from "../../store/records.ts";
import { accountRoot } from "../key-peer.ts";
import { CURRENT, labelsAfterStageUpdate, PENDING, versionWith } from "../labels.ts";
import type { SecretValue } from "../values.ts";
import { openVersion, putVersion, type VersionDeps } from "../versions.ts";
import type { RotationSteps } from "./rotator.ts";

/** What a managed secret type does at each step (values are zeroed by the caller afterwards). */
export interface ManagedRotation {
  /** The new value, made from the current one. */
  create(secret: SecretRecord, current: SecretValue, signal: AbortSignal): Promise<SecretValue>;
  /** Installs the pending value where it is used. */
  set(secret: SecretRecord, pending: SecretValue, current: SecretValue, signal: AbortSignal): Promise<void>;
  /** Checks the pending value works. */
  test(secret: SecretRecord, pending: SecretValue, signal: AbortSignal): Promise<void>;
  /** After CURRENT moved to the new value (e.g. schedule retiring the old credential). */
  finished(secret: SecretRecord, previous: SecretValue, current: SecretValue): Promise<void>;
}

export class ManagedRotationSteps implements RotationSteps {
  private readonly deps: VersionDeps;
  private readonly rotation: ManagedRotation;

  constructor(deps: VersionDeps, rotation: ManagedRotation) {
    this.deps = deps;
    this.rotation = rotation;
  }

  private async open(secret: SecretRecord, versionId: string): Promise<SecretValue> {
    const version = await this.deps.store.getVersion(secret.secretId, versionId);
    if (version === undefined) throw new KeyholdError("SECRET_VERSION_NOT_FOUND", `version ${versionId} not found`);
    return openVersion(this.deps, accountRoot(secret.accountId), secret, version, "secret_id");
  }

  private async currentVersionId(secret: SecretRecord): Promise<string> {
    const current = versionWith(await this.deps.store.labels(secret.secretId), CURRENT);
    if (current === undefined) throw new KeyholdError("ROTATION_FAILED", "the secret has no CURRENT value");
    return current;
  }

  async run(step: RotationStep, secret: SecretRecord, _krn: string, versionId: string, signal: AbortSignal): Promise<void> {
    const values: SecretValue[] = [];
    const open = async (id: string) => {
      const value = await this.open(secret, id);
      values.push(value);
      return value;
    };
    try {
      switch (step) {
        case RotationStep.CREATE: {
          if ((await this.deps.store.getVersion(secret.secretId, versionId)) !== undefined) return;
          const next = await this.rotation.create(secret, await open(await this.currentVersionId(secret)), signal);
          values.push(next);
          await putVersion(this.deps, accountRoot(secret.accountId), secret, versionId, next, [PENDING]);
          return;
        }
        case RotationStep.SET: {
          const current = await this.currentVersionId(secret);
          if (current === versionId) return;
          await this.rotation.set(secret, await open(versionId), await open(current), signal);
          return;
        }
        case RotationStep.TEST:
          await this.rotation.test(secret, await open(versionId), signal);
          return;
        case RotationStep.FINISH: {
          const current = await this.currentVersionId(secret);
          if (current === versionId) return;
          const limits = { maxLabelsPerSecret: this.deps.config.maxLabelsPerSecret };
          // CURRENT moves from where it is when written (the version read above, unless a label move intervened).
          await this.deps.store.changeVersions(secret.secretId, (state) => {
            const holder = versionWith(state.labels, CURRENT);
            if (holder === versionId) return undefined;
            const labels = labelsAfterStageUpdate(state.labels, { label: CURRENT, moveTo: versionId, removeFrom: holder }, limits);
            return { newVersion: undefined, labels, prune: [], updatedAt: this.deps.clock.now() };
          });
          await this.rotation.finished(secret, await open(current), await open(versionId));
          return;
        }
        default:
          throw new KeyholdError("INTERNAL", "unknown rotation step");
      }
    } finally {
      for (const value of values) value.bytes.fill(0);
    }
  }
}
