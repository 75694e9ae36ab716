// The root key migration, row by row, on a real SQLite store and real AES-256-GCM root keys (two
// local key files; the target's wrappings carry a marker byte so the formats differ, as the HSM
// root key's 0x02 does): resumable, a row changed meanwhile is left alone, a stop loses
// nothing, a row that cannot be unwrapped stops the run without touching it. The HSM itself
// is covered in test/e2e/root-key-migration.test.ts.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ExternalKeyStoreConnectionErrorCode, ExternalKeyStoreConnectionState, KeyManager, KeySpec, KeyState, KeyUsage, KeyVersionSource, Origin, WrappingAlgorithm,
} from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";
import type { SqliteDatabase } from "@keyhold/sqlite";
import { NEW_KEY_LIFECYCLE } from "../store/records.ts";
import { SqliteRootKeyMigrationStore, type RootKeyMigrationStore } from "../store/root-key-migration-store.ts";
import { openSqliteDatabase, SqliteKeyStore } from "../store/sqlite-key-store.ts";
import { unwrapStoreSecrets, wrapSecretAccessKey, wrapTlsClientKey } from "./external-key-stores.ts";
import { wrappingKeyAad } from "./key-import.ts";
import { wrapAad } from "./key-materials.ts";
import { migrateRootKey } from "./root-key-migration.ts";
import { LocalFileRootKeyProvider, type RootKeyProvider } from "./root-key.ts";

const ACCOUNT = "111122223333";
const T0 = new Date("2026-01-01T00:00:00Z");
const MARK = 0x7e;

/** A second root key whose wrappings start with MARK (so "already migrated" is visible by the first byte). */
class MarkedRootKey implements RootKeyProvider {
  readonly description = "marked root";
  readonly #inner: RootKeyProvider;
  constructor(inner: RootKeyProvider) {
    this.#inner = inner;
  }
  async wrap(material: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return Buffer.concat([Buffer.of(MARK), await this.#inner.wrap(material, aad)]);
  }
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    assert.equal(wrapped[0], MARK);
    return this.#inner.unwrap(wrapped.subarray(1), aad);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

const isMarked = (wrapped: Uint8Array) => wrapped[0] === MARK;

describe("migrateRootKey", () => {
  let dir: string;
  let from: RootKeyProvider;
  let to: RootKeyProvider;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "keyhold-root-migration-"));
    from = await LocalFileRootKeyProvider.open(join(dir, "from.bin"), createSilentLogger());
    to = new MarkedRootKey(await LocalFileRootKeyProvider.open(join(dir, "to.bin"), createSilentLogger()));
  });
  after(async () => {
    await from.close();
    await to.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A store with `count` keys (material i filled with byte i), one import token, one key without material. */
  async function seeded(count: number): Promise<{ db: SqliteDatabase; keys: SqliteKeyStore; versions: string[]; tokenId: string }> {
    const db = openSqliteDatabase(":memory:");
    const keys = new SqliteKeyStore(db);
    const versions: string[] = [];
    const add = async (material: Buffer | undefined) => {
      const keyId = randomUUID();
      const versionId = randomUUID();
      const wrappedMaterial = material === undefined ? Buffer.alloc(0) : await from.wrap(material, wrapAad(ACCOUNT, keyId, versionId));
      await keys.createKey({
        key: {
          keyId, accountId: ACCOUNT, description: "", keySpec: KeySpec.SYMMETRIC_DEFAULT, keyUsage: KeyUsage.ENCRYPT_DECRYPT,
          origin: material === undefined ? Origin.EXTERNAL : Origin.SOFTWARE, keyManager: KeyManager.CUSTOMER, state: KeyState.ENABLED,
          createdAt: T0, primaryVersionId: versionId, ...NEW_KEY_LIFECYCLE,
        },
        firstVersion: { versionId, keyId, accountId: ACCOUNT, wrappedMaterial, wrappedBy: from.description, createdAt: T0, source: KeyVersionSource.CREATION, publicKey: undefined },
        tags: [],
        idempotency: undefined,
      });
      return { keyId, versionId };
    };
    for (let i = 1; i <= count; i++) versions.push((await add(Buffer.alloc(32, i))).versionId);
    const pending = await add(undefined);
    const tokenId = randomUUID();
    await keys.putImportToken({
      tokenId, accountId: ACCOUNT, keyId: pending.keyId, wrappingAlgorithm: WrappingAlgorithm.RSAES_OAEP_SHA_256, wrappingKeySpec: 2048,
      wrappedPrivateKey: await from.wrap(Buffer.alloc(48, 0xee), wrappingKeyAad(ACCOUNT, pending.keyId, tokenId)),
      createdAt: T0, expiresAt: new Date(T0.getTime() + 86_400_000),
    });
    return { db, keys, versions, tokenId };
  }

  /** Every version's material unwraps (by whichever root its first byte names) to byte i. */
  async function assertIntact(keys: SqliteKeyStore, versions: readonly string[]): Promise<{ marked: number; unmarked: number }> {
    let marked = 0;
    for (const [index, versionId] of versions.entries()) {
      const v = (await keys.getVersion(versionId))!;
      const root = isMarked(v.wrappedMaterial) ? to : from;
      if (root === to) marked++;
      assert.equal(v.wrappedBy, root.description);
      assert.deepEqual(await root.unwrap(v.wrappedMaterial, wrapAad(v.accountId, v.keyId, v.versionId)), Buffer.alloc(32, index + 1));
    }
    return { marked, unmarked: versions.length - marked };
  }

  test("all rows in small batches; stopped after N and resumed; a third run has nothing to do", async () => {
    const { db, keys, versions, tokenId } = await seeded(7);
    const store = new SqliteRootKeyMigrationStore(db);
    const logger = createSilentLogger();
    const first = await migrateRootKey({ store, from, to, isTargetFormat: isMarked, logger, batchSize: 2, stopAfter: 3 });
    assert.deepEqual(first, { rewrapped: 3, alreadyMigrated: 0, changedMeanwhile: 0, complete: false });
    assert.deepEqual(await assertIntact(keys, versions), { marked: 3, unmarked: 4 });
    const second = await migrateRootKey({ store, from, to, isTargetFormat: isMarked, logger, batchSize: 2 });
    assert.deepEqual(second, { rewrapped: 5, alreadyMigrated: 3, changedMeanwhile: 0, complete: true }, "7 versions and the import token");
    assert.deepEqual(await assertIntact(keys, versions), { marked: 7, unmarked: 0 });
    const token = (await keys.getImportToken(tokenId))!;
    assert.ok(isMarked(token.wrappedPrivateKey));
    assert.deepEqual(await to.unwrap(token.wrappedPrivateKey, wrappingKeyAad(ACCOUNT, token.keyId, tokenId)), Buffer.alloc(48, 0xee));
    assert.deepEqual(await migrateRootKey({ store, from, to, isTargetFormat: isMarked, logger }), { rewrapped: 0, alreadyMigrated: 8, changedMeanwhile: 0, complete: true });
    db.close();
  });

  test("an abort stops after the row in hand; a row changed meanwhile is left as it is now", async () => {
    const { db, keys, versions } = await seeded(4);
    const inner = new SqliteRootKeyMigrationStore(db);
    const abort = new AbortController();
    let replaced = 0;
    const racing: RootKeyMigrationStore = {
      listWrapped: (kind, afterId, limit) => inner.listWrapped(kind, afterId, limit),
      async replaceWrapped(kind, id, expected, wrapped, wrappedBy) {
        replaced++;
        // A concurrent import rewrites the first row just before the migration's write.
        if (replaced === 1) setVersionMaterial(db, id, Buffer.concat([Buffer.of(0x01), expected.subarray(1)]).reverse());
        if (replaced === 2) abort.abort();
        return (await inner.replaceWrapped(kind, id, expected, wrapped, wrappedBy));
      },
    };
    const ordered = [...versions].sort();
    const result = await migrateRootKey({ store: racing, from, to, isTargetFormat: isMarked, logger: createSilentLogger(), signal: abort.signal });
    assert.deepEqual(result, { rewrapped: 1, alreadyMigrated: 0, changedMeanwhile: 1, complete: false });
    const first = (await keys.getVersion(ordered[0]!))!;
    assert.equal(isMarked(first.wrappedMaterial), false, "the concurrent write won");
    assert.ok(isMarked((await keys.getVersion(ordered[1]!))!.wrappedMaterial));
    db.close();
  });

  test("a row the old root cannot unwrap stops the run with an error; that row and the rest are untouched", async () => {
    const { db, keys, versions } = await seeded(3);
    const ordered = [...versions].sort();
    const broken = (await keys.getVersion(ordered[1]!))!;
    const corrupt = Buffer.from(broken.wrappedMaterial);
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 1;
    setVersionMaterial(db, broken.versionId, corrupt);
    const store = new SqliteRootKeyMigrationStore(db);
    await assert.rejects(migrateRootKey({ store, from, to, isTargetFormat: isMarked, logger: createSilentLogger() }), /could not unwrap/);
    assert.ok(isMarked((await keys.getVersion(ordered[0]!))!.wrappedMaterial));
    assert.deepEqual((await keys.getVersion(ordered[1]!))!.wrappedMaterial, corrupt);
    assert.equal(isMarked((await keys.getVersion(ordered[2]!))!.wrappedMaterial), false);
    db.close();
  });

  test("external key stores' secret access keys and TLS client keys move to the new root key too", async () => {
    const db = openSqliteDatabase(":memory:");
    const keys = new SqliteKeyStore(db);
    try {
      const id = randomUUID();
      const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";
      const pem = "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----";
      await keys.createExternalKeyStore({
        externalKeyStoreId: id, accountId: ACCOUNT, name: "s", endpoint: "https://xks.example.com", uriPath: "/kms/xks/v1", accessKeyId: "ABCDEFGHIJKLMNOPQRST",
        wrappedSecretAccessKey: await wrapSecretAccessKey(from, ACCOUNT, id, secret), tlsCaPem: "", tlsClientCertificatePem: "c",
        wrappedTlsClientKey: await wrapTlsClientKey(from, ACCOUNT, id, pem), tlsServerName: "",
        connectionState: ExternalKeyStoreConnectionState.DISCONNECTED, connectionErrorCode: ExternalKeyStoreConnectionErrorCode.UNSPECIFIED, createdAt: T0, updatedAt: T0,
      });
      const result = await migrateRootKey({ store: new SqliteRootKeyMigrationStore(db), from, to, isTargetFormat: isMarked, logger: createSilentLogger() });
      assert.equal(result.rewrapped, 2);
      const record = (await keys.getExternalKeyStore(ACCOUNT, id))!;
      assert.ok(isMarked(record.wrappedSecretAccessKey) && isMarked(record.wrappedTlsClientKey));
      const secrets = await unwrapStoreSecrets(to, record);
      assert.equal(secrets.secretAccessKey, secret);
      assert.equal(secrets.tlsClientKey.toString("utf8"), pem);
    } finally {
      await keys.close();
    }
  });
});

/** Rewrites a version's material behind the store's back (a concurrent import, a corrupted row). */
function setVersionMaterial(db: SqliteDatabase, versionId: string, wrapped: Buffer): void {
  db.prepare(`UPDATE key_versions SET wrapped_material = ? WHERE version_id = ?`).run(wrapped, versionId);
}
