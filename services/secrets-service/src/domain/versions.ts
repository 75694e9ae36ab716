// Writing and reading versions: the one place values are sealed and opened, and where the
// label rules meet the store.
import { accessDenied, accountOfKrn, type PolicyAuthority } from "@keyhold/authz";
import { callerOf, KeyholdError, type CallContext, type Principal } from "@keyhold/server-kit";
import type { SecretPatch, SecretStore, VersionChange } from "../store/secret-store.ts";
import type { SecretRecord, SecretVersionRecord } from "../store/records.ts";
import type { SecretsServiceConfig } from "../config.ts";
import type { Clock } from "../context.ts";
import type { DefaultKeys } from "./default-keys.ts";
import type { DataKeyCache } from "./data-key-cache.ts";
import { encryptionContextFor, type Envelope } from "./envelope.ts";
import { SECRETS_SERVICE_NAME } from "./key-peer.ts";
import { CURRENT, labelsAfterPut, labelsAfterRelabel, versionsToPrune, versionWith } from "./labels.ts";
import { secretKrn, secretNotFound, versionNotFound } from "./names.ts";
import { sameValue, type SecretValue } from "./values.ts";

export interface VersionDeps {
  readonly config: SecretsServiceConfig;
  readonly store: SecretStore;
  readonly envelope: Envelope;
  readonly defaultKeys: DefaultKeys;
  readonly clock: Clock;
}

export interface CallerReadDeps extends VersionDeps {
  readonly dataKeys: DataKeyCache;
  readonly authority: PolicyAuthority;
}

/**
 * A version's value for the end caller of `call`: the data key from the cache when it holds
 * it (after authorizing the caller for kms:Decrypt on the key exactly as key-service would for
 * a call through secrets-service), else from key-service (which authorizes and audits it).
 */
export async function openVersionForCaller(deps: CallerReadDeps, call: CallContext, secret: SecretRecord, version: SecretVersionRecord, field: string): Promise<SecretValue> {
  const caller = callerOf(call);
  const krn = secretKrn(deps.config.region, secret.accountId, secret.name);
  const cached = deps.dataKeys.get(secret.secretId, version.versionId, version.encryptedDataKey);
  if (cached !== undefined) {
    try {
      const answer = await deps.authority.authorize({
        principal: caller,
        action: "kms:Decrypt",
        resource: version.keyKrn,
        encryptionContext: encryptionContextFor(krn, version.versionId),
        viaService: SECRETS_SERVICE_NAME,
        // As key-service sees the in-process call from secrets-service.
        secureTransport: false,
      });
      if (!answer.allowed) {
        if (accountOfKrn(version.keyKrn) !== caller.accountId) throw new KeyholdError("KEY_NOT_FOUND", `${field}: key not found`, { field });
        throw accessDenied("kms:Decrypt", version.keyKrn);
      }
      return { kind: version.valueKind, bytes: deps.envelope.openWith(cached, krn, version) };
    } finally {
      cached.fill(0);
    }
  }
  const dataKey = await deps.envelope.decryptDataKey(caller, krn, version, field);
  try {
    const bytes = deps.envelope.openWith(dataKey, krn, version);
    deps.dataKeys.set(secret.secretId, version.versionId, version.encryptedDataKey, dataKey);
    return { kind: version.valueKind, bytes };
  } finally {
    dataKey.fill(0);
  }
}

export interface PutOutcome {
  readonly versionId: string;
  readonly stages: readonly string[];
  /** True when the version existed with the same value (an idempotent replay). */
  readonly replayed: boolean;
}

/** The key reference new versions of `secret` are sealed under. */
export async function keyRefOf(deps: VersionDeps, secret: SecretRecord): Promise<string> {
  return secret.kmsKeyId === "" ? deps.defaultKeys.keyOf(secret.accountId) : secret.kmsKeyId;
}

export async function openVersion(deps: VersionDeps, actor: Principal, secret: SecretRecord, version: SecretVersionRecord, field: string): Promise<SecretValue> {
  const krn = secretKrn(deps.config.region, secret.accountId, secret.name);
  return { kind: version.valueKind, bytes: await deps.envelope.open(actor, krn, version, field) };
}

/**
 * Stores `value` as version `versionId` with `stages` (canonical; none = CURRENT). The same
 * version id with the same value is a no-op (its labels are added); with another value
 * ALREADY_EXISTS. `patch` is applied in the same transaction as the new version. Concurrent
 * calls with the same version id (replicas included) make one version: the others answer as
 * replays.
 */
export async function putVersion(
  deps: VersionDeps,
  actor: Principal,
  secret: SecretRecord,
  versionId: string,
  value: SecretValue,
  stages: readonly string[],
  patch?: SecretPatch,
): Promise<PutOutcome> {
  const existing = await deps.store.getVersion(secret.secretId, versionId);
  if (existing !== undefined) return replayVersion(deps, actor, secret, existing, value, stages, patch);
  const limits = { maxLabelsPerSecret: deps.config.maxLabelsPerSecret };
  const newVersion = await sealVersion(deps, actor, secret, versionId, value);
  let lost = false;
  const labels = await deps.store.changeVersions(secret.secretId, (state) => {
    // Another call stored this version id since the check above: answer as its replay.
    lost = state.labels.has(versionId);
    if (lost) return undefined;
    const next = labelsAfterPut(state.labels, versionId, stages, limits);
    const prune = versionsToPrune(next, [...next.keys()], deps.config.maxVersionsPerSecret);
    for (const pruned of prune) next.delete(pruned);
    return { newVersion, labels: next, prune, updatedAt: newVersion.createdAt, ...(patch === undefined ? {} : { patch }) };
  });
  if (labels === undefined) throw secretNotFound("secret_id");
  if (lost) {
    const stored = await deps.store.getVersion(secret.secretId, versionId);
    if (stored === undefined) throw versionNotFound("version_id");
    return replayVersion(deps, actor, secret, stored, value, stages, patch);
  }
  return { versionId, stages: labels.get(versionId) ?? [], replayed: false };
}

/** A version id stored before: the same value adds `stages` to it, another value is ALREADY_EXISTS. */
async function replayVersion(
  deps: VersionDeps,
  actor: Principal,
  secret: SecretRecord,
  existing: SecretVersionRecord,
  value: SecretValue,
  stages: readonly string[],
  patch: SecretPatch | undefined,
): Promise<PutOutcome> {
  const { versionId } = existing;
  const stored = await openVersion(deps, actor, secret, existing, "version_id");
  try {
    if (!sameValue(stored, value)) {
      throw new KeyholdError("ALREADY_EXISTS", "version_id: a version with this id exists with a different value", { field: "version_id" });
    }
  } finally {
    stored.bytes.fill(0);
  }
  const limits = { maxLabelsPerSecret: deps.config.maxLabelsPerSecret };
  const labels = await deps.store.changeVersions(secret.secretId, (state) => {
    if (!state.labels.has(versionId)) throw versionNotFound("version_id");
    const wanted = stages.filter((label) => !(state.labels.get(versionId) ?? []).includes(label));
    if (wanted.length === 0) return undefined;
    const next = labelsAfterRelabel(state.labels, versionId, wanted, limits);
    return { newVersion: undefined, labels: next, prune: [], updatedAt: deps.clock.now(), ...(patch === undefined ? {} : { patch }) };
  });
  if (labels === undefined) throw secretNotFound("secret_id");
  return { versionId, stages: labels.get(versionId) ?? [], replayed: true };
}

/** Seals `value` as version `versionId` of `secret` (not stored yet). */
async function sealVersion(deps: VersionDeps, actor: Principal, secret: SecretRecord, versionId: string, value: SecretValue): Promise<SecretVersionRecord> {
  const krn = secretKrn(deps.config.region, secret.accountId, secret.name);
  const keyRef = await keyRefOf(deps, secret);
  const sealed = await deps.envelope.seal(actor, keyRef, krn, versionId, value.kind, value.bytes, "kms_key_id");
  return {
    secretId: secret.secretId,
    versionId,
    createdAt: deps.clock.now(),
    keyKrn: sealed.keyKrn,
    encryptedDataKey: sealed.encryptedDataKey,
    sealedValue: sealed.sealedValue,
    valueKind: value.kind,
  };
}

/** The first version of a new secret, sealed and labelled CURRENT: created with the secret in one transaction. */
export async function firstVersion(deps: VersionDeps, actor: Principal, secret: SecretRecord, versionId: string, value: SecretValue): Promise<VersionChange> {
  const newVersion = await sealVersion(deps, actor, secret, versionId, value);
  const labels = labelsAfterPut(new Map(), versionId, [], { maxLabelsPerSecret: deps.config.maxLabelsPerSecret });
  return { newVersion, labels, prune: [], updatedAt: newVersion.createdAt };
}

/** The version a read names: by id, or by label (default CURRENT). */
export async function versionToRead(
  store: SecretStore,
  secret: SecretRecord,
  versionId: string,
  stage: string,
): Promise<{ version: SecretVersionRecord; stages: readonly string[] }> {
  const labels = await store.labels(secret.secretId);
  let id = versionId;
  if (id === "") {
    const label = stage === "" ? CURRENT : stage;
    const holder = versionWith(labels, label);
    if (holder === undefined) throw versionNotFound(stage === "" ? "secret_id" : "version_stage");
    id = holder;
  } else if (stage !== "" && !(labels.get(id) ?? []).includes(stage)) {
    throw versionNotFound("version_stage");
  }
  const version = await store.getVersion(secret.secretId, id);
  if (version === undefined) throw versionNotFound("version_id");
  return { version, stages: labels.get(id) ?? [] };
}
