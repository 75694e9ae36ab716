// Opens a service's SQLite database: directory created 0700, WAL journal, synchronous=FULL (a
// commit is on disk when it returns), foreign keys on, and the service's migrations applied in
// order, each in its own transaction, with PRAGMA user_version recording how far it came.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

export type SqliteDatabase = Database.Database;

/** Opens (creating and migrating as needed) a database file, or ":memory:". */
export function openMigratedDatabase(path: string, migrations: readonly string[]): SqliteDatabase {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > migrations.length) throw new Error(`${path}: database schema version ${current} is newer than this build knows (${migrations.length})`);
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return db;
}
