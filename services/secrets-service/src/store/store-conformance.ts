// One behaviour for every SecretStore: the same cases run against SQLite and PostgreSQL
// (sqlite-secret-store.test.ts, postgres-secret-store.test.ts). Each case gets a fresh, empty
// store from the factory and closes it afterwards.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { SecretType } from "@keyhold/proto";
import { KeyholdError } from "@keyhold/server-kit";
import { CURRENT, labelsAfterPut, labelsAfterStageUpdate, PENDING, PREVIOUS, versionWith } from "../domain/labels.ts";
import { VALUE_KINDS, type SecretRecord, type SecretVersionRecord } from "./records.ts";
import { TagLimitExceeded, type SecretFilter, type SecretStore, type VersionChange } from "./secret-store.ts";

export type StoreFactory = () => Promise<SecretStore>;

const T0 = new Date("2026-03-01T12:00:00.000Z");
const LIMITS = { maxLabelsPerSecret: 20 };
const ALL: SecretFilter = { namePrefix: "", tagKey: "", tagValue: "", includePlannedDeletion: true };

export function secretRecord(accountId: string, name: string, extra: Partial<SecretRecord> = {}): SecretRecord {
  return {
    secretId: randomUUID(),
    accountId,
    name,
    description: `the ${name} secret`,
    secretType: SecretType.GENERIC,
    kmsKeyId: "",
    createdAt: T0,
    updatedAt: T0,
    rotationEnabled: false,
    rotationIntervalSeconds: 0,
    rotationHandlerUrl: "",
    lastRotatedAt: undefined,
    nextRotationAt: undefined,
    rotationToken: undefined,
    rotationLeaseUntil: undefined,
    lastRotationError: "",
    deletionDate: undefined,
    apiKeyPrincipalKrn: "",
    apiKeyGracePeriodSeconds: 0,
    ...extra,
  };
}

export function versionRecord(secretId: string, versionId: string, at: Date = T0): SecretVersionRecord {
  return {
    secretId,
    versionId,
    createdAt: at,
    keyKrn: "krn:keyhold:kms:test-1:000000000001:key/11111111-1111-4111-8111-111111111111",
    encryptedDataKey: Buffer.from(`edk-${versionId}`),
    sealedValue: Buffer.from([1, 2, 3, 0, 255, versionId.length]),
    valueKind: VALUE_KINDS.binary,
  };
}

/** A put of a new version with `stages`, as domain/versions.ts plans it (inside the store's transaction). */
export async function putNewVersion(store: SecretStore, secretId: string, versionId: string, stages: readonly string[] = []): Promise<Map<string, string[]> | undefined> {
  return store.changeVersions(secretId, (state) => {
    if (state.labels.has(versionId)) return undefined;
    return { newVersion: versionRecord(secretId, versionId), labels: labelsAfterPut(state.labels, versionId, stages, LIMITS), prune: [], updatedAt: new Date() };
  });
}

/** Every label on exactly one version; CURRENT on one once a version exists. */
export function assertLabelInvariants(labels: ReadonlyMap<string, readonly string[]>): void {
  const seen = new Map<string, string>();
  for (const [version, set] of labels) {
    for (const label of set) {
      assert.ok(!seen.has(label), `${label} on ${seen.get(label)} and ${version}`);
      seen.set(label, version);
    }
  }
  if (labels.size > 0) assert.ok(seen.has(CURRENT), "no CURRENT");
}

export function secretStoreConformance(name: string, open: StoreFactory): void {
  const withStore = (title: string, body: (store: SecretStore) => Promise<void>): void => {
    test(title, async () => {
      const store = await open();
      try {
        await body(store);
      } finally {
        await store.close();
      }
    });
  };

  describe(`SecretStore conformance: ${name}`, () => {
    withStore("a secret round-trips every field; names are unique per account, not across accounts", async (store) => {
      const full = secretRecord("000000000001", "db/main", {
        secretType: SecretType.POSTGRESQL,
        kmsKeyId: "alias/mine",
        rotationEnabled: true,
        rotationIntervalSeconds: 86_400,
        rotationHandlerUrl: "https://rotator.example/",
        lastRotatedAt: new Date(T0.getTime() - 1000),
        nextRotationAt: new Date(T0.getTime() + 86_400_000),
        rotationToken: "token-1",
        rotationLeaseUntil: new Date(T0.getTime() + 5),
        lastRotationError: "set step failed",
        deletionDate: new Date(T0.getTime() + 7 * 86_400_000),
        apiKeyPrincipalKrn: "krn:keyhold:iam::000000000001:user/app",
        apiKeyGracePeriodSeconds: 3600,
      });
      assert.equal(await store.createSecret(full, [{ key: "team", value: "db" }], undefined), true);
      assert.deepEqual(await store.getSecret("000000000001", "db/main"), full);
      assert.deepEqual(await store.getSecretById(full.secretId), full);
      assert.equal(await store.createSecret(secretRecord("000000000001", "db/main"), [], undefined), false, "name taken in the account");
      assert.equal(await store.createSecret(secretRecord("000000000002", "db/main"), [], undefined), true, "another account may use it");
      assert.equal(await store.getSecret("000000000001", "DB/main"), undefined, "names are case-sensitive");
      assert.equal(await store.getSecretById(randomUUID()), undefined);
      assert.deepEqual(await store.listTags(full.secretId), [{ key: "team", value: "db" }]);
    });

    withStore("a secret made with its first version: versions, values and labels", async (store) => {
      const secret = secretRecord("000000000001", "app");
      const first: VersionChange = { newVersion: versionRecord(secret.secretId, "v1"), labels: new Map([["v1", [CURRENT]]]), prune: [], updatedAt: T0 };
      assert.equal(await store.createSecret(secret, [], first), true);
      assert.deepEqual(await store.getVersion(secret.secretId, "v1"), versionRecord(secret.secretId, "v1"));
      assert.deepEqual([...(await store.labels(secret.secretId))], [["v1", [CURRENT]]]);
      // A second create of the name with a version changes nothing.
      const again = secretRecord("000000000001", "app");
      assert.equal(await store.createSecret(again, [], { ...first, newVersion: versionRecord(again.secretId, "v9") }), false);
      assert.equal(await store.getVersion(again.secretId, "v9"), undefined);
      assert.equal(await store.getSecretById(again.secretId), undefined);
    });

    withStore("version changes: new versions in order, labels in the order written, pruning, the patch, the plan's view", async (store) => {
      const secret = secretRecord("000000000001", "app");
      await store.createSecret(secret, [], undefined);
      assert.deepEqual([...(await store.labels(secret.secretId))], []);
      await putNewVersion(store, secret.secretId, "v1");
      await putNewVersion(store, secret.secretId, "v2", ["blue", CURRENT]);
      const after = await putNewVersion(store, secret.secretId, "v3", [PENDING]);
      assert.deepEqual([...after!], [["v1", [PREVIOUS]], ["v2", ["blue", CURRENT]], ["v3", [PENDING]]]);
      assert.deepEqual([...(await store.labels(secret.secretId))], [...after!]);
      assert.deepEqual((await store.listVersions(secret.secretId)).map((v) => v.versionId), ["v1", "v2", "v3"]);

      const later = new Date(T0.getTime() + 60_000);
      let seen: string[] = [];
      const moved = await store.changeVersions(secret.secretId, (state) => {
        seen = [...state.labels.keys()];
        assert.equal(state.secret.secretId, secret.secretId);
        const labels = labelsAfterStageUpdate(state.labels, { label: CURRENT, moveTo: "v3", removeFrom: "v2" }, LIMITS);
        labels.delete("v1");
        return { newVersion: undefined, labels, prune: ["v1"], updatedAt: later, patch: { description: "rotated" } };
      });
      assert.deepEqual(seen, ["v1", "v2", "v3"]);
      assert.deepEqual([...moved!], [["v2", ["blue", PREVIOUS]], ["v3", [CURRENT]]]);
      assert.equal(await store.getVersion(secret.secretId, "v1"), undefined, "pruned");
      const stored = await store.getSecretById(secret.secretId);
      assert.equal(stored?.description, "rotated");
      assert.deepEqual(stored?.updatedAt, later);
      // A new version after a pruned one still sorts last.
      await putNewVersion(store, secret.secretId, "v4", ["green"]);
      assert.deepEqual((await store.listVersions(secret.secretId)).map((v) => v.versionId), ["v2", "v3", "v4"]);
      // No change: nothing written, the labels answered.
      const unchanged = await store.changeVersions(secret.secretId, () => undefined);
      assert.deepEqual([...unchanged!], [["v2", ["blue", PREVIOUS]], ["v3", [CURRENT]], ["v4", ["green"]]]);
      assert.equal(await store.changeVersions(randomUUID(), () => assert.fail("no plan for a missing secret")), undefined);
    });

    withStore("a plan that throws changes nothing; a label is never stored on two versions", async (store) => {
      const secret = secretRecord("000000000001", "app");
      await store.createSecret(secret, [], undefined);
      await putNewVersion(store, secret.secretId, "v1");
      await assert.rejects(
        store.changeVersions(secret.secretId, (state) => labelsAfterStageUpdate(state.labels, { label: CURRENT, moveTo: "nope", removeFrom: "v1" }, LIMITS) && undefined),
        (error: unknown) => error instanceof KeyholdError && error.reason === "SECRET_VERSION_NOT_FOUND",
      );
      await assert.rejects(
        store.changeVersions(secret.secretId, () => {
          throw new KeyholdError("INVALID_ARGUMENT", "no");
        }),
        KeyholdError,
      );
      await assert.rejects(
        store.changeVersions(secret.secretId, () => ({
          newVersion: versionRecord(secret.secretId, "v2"),
          labels: new Map([["v1", [CURRENT, "x"]], ["v2", ["x"]]]),
          prune: [],
          updatedAt: new Date(),
        })),
      );
      assert.deepEqual([...(await store.labels(secret.secretId))], [["v1", [CURRENT]]], "rolled back: no v2, labels as before");
      assert.equal(await store.getVersion(secret.secretId, "v2"), undefined);
    });

    withStore("updates: a patch, or one decided from the stored secret; a missing secret is undefined", async (store) => {
      const secret = secretRecord("000000000001", "app");
      await store.createSecret(secret, [], undefined);
      const when = new Date(T0.getTime() + 1);
      const updated = await store.updateSecret(secret.secretId, { description: "new", deletionDate: when, updatedAt: when });
      assert.equal(updated?.description, "new");
      assert.deepEqual(await store.getSecretById(secret.secretId), updated);
      const again = await store.updateSecret(secret.secretId, (current) => (current.deletionDate === undefined ? { deletionDate: T0 } : {}));
      assert.deepEqual(again?.deletionDate, when, "kept: decided from the stored secret");
      const cleared = await store.updateSecret(secret.secretId, { deletionDate: undefined });
      assert.equal(cleared?.deletionDate, undefined);
      assert.equal((await store.getSecretById(secret.secretId))?.deletionDate, undefined);
      assert.equal(await store.updateSecret(randomUUID(), { description: "x" }), undefined);
    });

    withStore("listing: byte order, pages, prefix, tags, planned deletion, accounts apart", async (store) => {
      const names = ["b", "B", "a/1", "a/2", "a_", "Z", "é", "a"];
      for (const n of names) {
        const deleting = n === "a/2" ? { deletionDate: new Date(T0.getTime() + 86_400_000) } : {};
        await store.createSecret(secretRecord("000000000001", n, deleting), n.startsWith("a") ? [{ key: "env", value: n === "a" ? "prod" : "dev" }] : [], undefined);
      }
      await store.createSecret(secretRecord("000000000002", "a/3"), [], undefined);
      const collect = async (filter: SecretFilter, limit: number) => {
        const pages: string[][] = [];
        let after: string | undefined;
        do {
          const page = await store.listSecrets("000000000001", filter, after, limit);
          pages.push(page.items.map((s) => s.name));
          after = page.next;
        } while (after !== undefined);
        return pages;
      };
      assert.deepEqual(await collect(ALL, 3), [["B", "Z", "a"], ["a/1", "a/2", "a_"], ["b", "é"]]);
      assert.deepEqual(await collect(ALL, 8), [["B", "Z", "a", "a/1", "a/2", "a_", "b", "é"]]);
      assert.deepEqual(await collect({ ...ALL, includePlannedDeletion: false }, 10), [["B", "Z", "a", "a/1", "a_", "b", "é"]]);
      assert.deepEqual(await collect({ ...ALL, namePrefix: "a/" }, 1), [["a/1"], ["a/2"]]);
      assert.deepEqual(await collect({ ...ALL, namePrefix: "a_" }, 10), [["a_"]], "_ is no wildcard");
      assert.deepEqual(await collect({ ...ALL, namePrefix: "%" }, 10), [[]], "% is no wildcard");
      assert.deepEqual(await collect({ ...ALL, tagKey: "env" }, 10), [["a", "a/1", "a/2", "a_"]]);
      assert.deepEqual(await collect({ ...ALL, tagKey: "env", tagValue: "prod" }, 10), [["a"]]);
      assert.deepEqual(await collect({ ...ALL, tagKey: "ENV" }, 10), [[]]);
    });

    withStore("tags: add or replace, the limit (nothing changed beyond it), remove", async (store) => {
      const secret = secretRecord("000000000001", "app");
      await store.createSecret(secret, [{ key: "b", value: "1" }], undefined);
      await store.putTags(secret.secretId, [{ key: "a", value: "2" }, { key: "b", value: "3" }], 3);
      assert.deepEqual(await store.listTags(secret.secretId), [{ key: "a", value: "2" }, { key: "b", value: "3" }]);
      await assert.rejects(store.putTags(secret.secretId, [{ key: "c", value: "" }, { key: "d", value: "" }, { key: "a", value: "9" }], 3), TagLimitExceeded);
      assert.deepEqual(await store.listTags(secret.secretId), [{ key: "a", value: "2" }, { key: "b", value: "3" }], "rolled back");
      await store.removeTags(secret.secretId, ["a", "zz"]);
      assert.deepEqual(await store.listTags(secret.secretId), [{ key: "b", value: "3" }]);
    });

    withStore("purge: versions, labels and tags go; the name is free again; due purges by date", async (store) => {
      const due = secretRecord("000000000001", "old", { deletionDate: new Date(T0.getTime() - 1) });
      const later = secretRecord("000000000001", "later", { deletionDate: new Date(T0.getTime() + 86_400_000) });
      await store.createSecret(due, [{ key: "k", value: "v" }], undefined);
      await store.createSecret(later, [], undefined);
      await store.createSecret(secretRecord("000000000001", "kept"), [], undefined);
      await putNewVersion(store, due.secretId, "v1");
      assert.deepEqual((await store.duePurges(T0, 10)).map((s) => s.name), ["old"]);
      await store.purgeSecret(due.secretId);
      assert.equal(await store.getSecretById(due.secretId), undefined);
      assert.equal(await store.getVersion(due.secretId, "v1"), undefined);
      assert.deepEqual([...(await store.labels(due.secretId))], []);
      assert.deepEqual(await store.listTags(due.secretId), []);
      assert.equal(await store.createSecret(secretRecord("000000000001", "old"), [], undefined), true);
      assert.deepEqual((await store.duePurges(new Date(T0.getTime() + 86_400_000), 10)).map((s) => s.name), ["later"]);
    });

    withStore("rotation: due secrets, one lease at a time (until it expires), finishing releases it", async (store) => {
      const due = secretRecord("000000000001", "due", { rotationEnabled: true, rotationIntervalSeconds: 86_400, nextRotationAt: new Date(T0.getTime() - 1) });
      await store.createSecret(due, [], undefined);
      await store.createSecret(secretRecord("000000000001", "off", { nextRotationAt: new Date(T0.getTime() - 1) }), [], undefined);
      await store.createSecret(secretRecord("000000000001", "notyet", { rotationEnabled: true, nextRotationAt: new Date(T0.getTime() + 1000) }), [], undefined);
      await store.createSecret(
        secretRecord("000000000001", "deleting", { rotationEnabled: true, nextRotationAt: new Date(T0.getTime() - 1), deletionDate: new Date(T0.getTime() + 1) }),
        [],
        undefined,
      );
      assert.deepEqual((await store.dueRotations(T0, 10)).map((s) => s.name), ["due"]);
      const until = new Date(T0.getTime() + 60_000);
      assert.equal(await store.acquireRotation(due.secretId, "r1", T0, until), true);
      assert.equal(await store.acquireRotation(due.secretId, "r2", T0, until), false, "held");
      assert.deepEqual(await store.dueRotations(T0, 10), [], "a held secret is not due");
      const stored = await store.getSecretById(due.secretId);
      assert.equal(stored?.rotationToken, "r1");
      assert.deepEqual(stored?.rotationLeaseUntil, until);
      assert.equal(await store.acquireRotation(due.secretId, "r3", until, new Date(until.getTime() + 60_000)), true, "an expired lease is taken over");
      assert.equal(await store.finishRotation(due.secretId, "r1", { lastRotationError: "late" }), false, "r1's lease was taken over by r3");
      assert.equal((await store.getSecretById(due.secretId))?.lastRotationError, "");
      assert.equal(await store.finishRotation(due.secretId, "r3", (current) => ({ rotationToken: undefined, lastRotatedAt: T0, nextRotationAt: new Date(T0.getTime() + current.rotationIntervalSeconds * 1000) })), true);
      const finished = await store.getSecretById(due.secretId);
      assert.equal(finished?.rotationLeaseUntil, undefined);
      assert.equal(finished?.rotationToken, undefined);
      assert.deepEqual(finished?.nextRotationAt, new Date(T0.getTime() + 86_400_000));
      assert.equal(await store.acquireRotation(due.secretId, "r4", T0, until), true, "free again");
      assert.equal(await store.finishRotation(due.secretId, "r4", {}), true);
      // The scheduler takes the lease only while the rotation is still due.
      const notYet = (await store.getSecret("000000000001", "notyet"))!;
      assert.equal(await store.acquireRotation(notYet.secretId, "s1", T0, until, true), false, "not due yet");
      const off = (await store.getSecret("000000000001", "off"))!;
      assert.equal(await store.acquireRotation(off.secretId, "s2", T0, until, true), false, "automatic rotation off");
      assert.equal(await store.acquireRotation(off.secretId, "s3", T0, until), true, "on demand, whatever the schedule");
      assert.equal(await store.acquireRotation(due.secretId, "s4", T0, until, true), false, "rotated: next time is a day later");
      assert.equal(await store.acquireRotation(due.secretId, "s5", new Date(T0.getTime() + 86_400_000), new Date(T0.getTime() + 86_460_000), true), true, "due again");
    });

    withStore("default keys: the first recorded stays; API key retirements by date", async (store) => {
      assert.equal(await store.getDefaultKey("000000000001"), undefined);
      assert.equal(await store.setDefaultKey("000000000001", "krn:first"), "krn:first");
      assert.equal(await store.setDefaultKey("000000000001", "krn:second"), "krn:first");
      assert.equal(await store.getDefaultKey("000000000001"), "krn:first");
      const retirement = { secretId: "s", accountId: "000000000001", principalKrn: "krn:p", apiKeyId: "k1", disableAt: T0 };
      await store.addApiKeyRetirement(retirement);
      await store.addApiKeyRetirement({ ...retirement, disableAt: new Date(0) });
      await store.addApiKeyRetirement({ ...retirement, apiKeyId: "k2", disableAt: new Date(T0.getTime() + 1) });
      assert.deepEqual(await store.dueApiKeyRetirements(T0, 10), [retirement], "the first one recorded for a key stays");
      await store.removeApiKeyRetirement("k1");
      assert.deepEqual((await store.dueApiKeyRetirements(new Date(T0.getTime() + 1), 10)).map((r) => r.apiKeyId), ["k2"]);
    });

    withStore("concurrent version changes on one secret lose nothing", async (store) => {
      const secret = secretRecord("000000000001", "busy");
      await store.createSecret(secret, [], undefined);
      const ids = Array.from({ length: 12 }, (_, i) => `v${String(i).padStart(2, "0")}`);
      // Twice each id at once: one version per id; every put's label survives.
      await Promise.all([...ids, ...ids].map((id) => putNewVersion(store, secret.secretId, id, [`L${id}`])));
      const labels = await store.labels(secret.secretId);
      assert.equal(labels.size, ids.length);
      assertLabelInvariants(labels);
      for (const id of ids) assert.equal(versionWith(labels, `L${id}`), id);
    });
  });
}
