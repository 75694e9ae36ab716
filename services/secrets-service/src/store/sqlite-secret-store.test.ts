// The store conformance suite on SQLite (a fresh database file per case).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { openSqliteDatabase, SqliteSecretStore } from "./sqlite-secret-store.ts";
import { secretStoreConformance } from "./store-conformance.ts";

const dir = mkdtempSync(join(tmpdir(), "keyhold-secret-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let next = 0;

secretStoreConformance("SQLite", async () => new SqliteSecretStore(openSqliteDatabase(join(dir, `store-${next++}.sqlite`))));
