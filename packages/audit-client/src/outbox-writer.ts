// The outbox's SQLite writer, run in its own worker thread so that the fsync of each commit
// never blocks the service's event loop. It owns the only connection to the file: WAL,
// synchronous=FULL (the WAL is fsynced before a commit returns). Each "commit" is one
// transaction holding every event of a group commit, so many events share one fsync.
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { packWithSourceFields, sourceField } from "./ingest-wire.ts";
import { packEvents, unpackEvents, type WriterConfig, type WriterFailure, type WriterReply, type WriterRequest, type WriterResult } from "./outbox-protocol.ts";

const SCHEMA_VERSION = 1;

function failureOf(error: unknown): WriterFailure {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === "string" ? code : error.name, message: error.message };
  }
  return { code: "UNKNOWN", message: String(error) };
}

function openDatabase(config: WriterConfig): { db: Database.Database; source: string } {
  mkdirSync(dirname(config.path), { recursive: true, mode: 0o700 });
  // Only this connection ever uses the file (see locking_mode below): a lock held by anyone else
  // is another process owning this outbox, not contention worth waiting long for.
  const db = new Database(config.path, { timeout: 1000 });
  try {
    // One owner: this thread holds the file's lock for as long as it is open (a second process
    // opening the same outbox fails instead of shipping the same rows), and WAL keeps its index
    // in this thread's memory instead of a mmapped -shm file.
    db.pragma("locking_mode = EXCLUSIVE");
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    // The WAL file is truncated back to this size after a checkpoint, so a drained outbox is small.
    db.pragma("journal_size_limit = 16777216");
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`outbox schema ${version} is newer than this code (${SCHEMA_VERSION})`);
    const source = db.transaction(() => {
      db.exec(`
        CREATE TABLE IF NOT EXISTS outbox_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
        CREATE TABLE IF NOT EXISTS outbox (
          sequence INTEGER PRIMARY KEY AUTOINCREMENT,
          event BLOB NOT NULL,
          appended_at INTEGER NOT NULL
        ) STRICT;
      `);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      db.prepare("INSERT OR IGNORE INTO outbox_meta (name, value) VALUES ('source', ?)").run(
        `${config.service}-${randomBytes(8).toString("hex")}`,
      );
      return (db.prepare("SELECT value FROM outbox_meta WHERE name = 'source'").get() as { value: string }).value;
    }).immediate();
    return { db, source };
  } catch (error) {
    db.close();
    throw error;
  }
}

/** The buffers a reply hands over instead of copying. */
function transferablesOf(reply: WriterReply): ArrayBuffer[] {
  if (reply.type !== "reply" || !reply.ok || reply.result.kind !== "read") return [];
  const { events, sequences } = reply.result;
  return [events.bytes.buffer as ArrayBuffer, events.lengths.buffer as ArrayBuffer, sequences.buffer as ArrayBuffer];
}

function serve(port: NonNullable<typeof parentPort>, config: WriterConfig): void {
  let opened: { db: Database.Database; source: string };
  try {
    opened = openDatabase(config);
  } catch (error) {
    port.postMessage({ type: "open-failed", failure: failureOf(error) } satisfies WriterReply);
    port.close();
    return;
  }
  const { db, source } = opened;
  const sourceBytes = sourceField(source);
  const lastSequenceStmt = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").pluck();
  const lastSequence = (): number => (lastSequenceStmt.get() as number | undefined) ?? 0;
  const insert = db.prepare("INSERT INTO outbox (event, appended_at) VALUES (?, ?)");
  const deleteThrough = db.prepare("DELETE FROM outbox WHERE sequence <= ?");
  const read = db.prepare("SELECT sequence, event FROM outbox WHERE sequence > ? ORDER BY sequence LIMIT ?");
  const range = db.prepare("SELECT min(sequence) AS first, max(sequence) AS last FROM outbox WHERE sequence > ?");
  const oldest = db.prepare("SELECT appended_at FROM outbox WHERE sequence > ? ORDER BY sequence LIMIT 1").pluck();
  const probe = db.prepare("INSERT OR REPLACE INTO outbox_meta (name, value) VALUES ('probed_at', ?)");
  let transactions = 0;
  let committedEvents = 0;
  let last = lastSequence();

  const commit = db.transaction((events: readonly Uint8Array[], through: number): number => {
    const now = Date.now();
    let newest = last;
    for (const event of events) {
      newest = Number(insert.run(Buffer.from(event.buffer, event.byteOffset, event.byteLength), now).lastInsertRowid);
    }
    if (through > 0) deleteThrough.run(through);
    return newest;
  });

  const handle = (request: WriterRequest): WriterResult => {
    switch (request.type) {
      case "commit": {
        const events = unpackEvents(request.events);
        last = commit.immediate(events, request.deleteThrough);
        transactions += 1;
        committedEvents += events.length;
        return { kind: "commit", lastSequence: last };
      }
      case "read": {
        const rows = read.all(request.after, request.limit) as { sequence: number; event: Buffer }[];
        const sequences = Float64Array.from(rows, (row) => row.sequence);
        const stored = rows.map((row) => row.event);
        return {
          kind: "read",
          events: request.withSourceFields ? packWithSourceFields(stored, sequences, sourceBytes) : packEvents(stored),
          sequences,
          lastSequence: last,
        };
      }
      case "stats": {
        const bounds = range.get(request.after) as { first: number | null; last: number | null };
        const pending = bounds.first === null || bounds.last === null ? 0 : bounds.last - bounds.first + 1;
        const appendedAt = oldest.get(request.after) as number | undefined;
        return {
          kind: "stats",
          stats: { pending, oldestAppendedAt: appendedAt, lastSequence: last, transactions, events: committedEvents },
        };
      }
      case "probe":
        db.transaction(() => probe.run(new Date().toISOString())).immediate();
        return { kind: "probe" };
      case "close":
        db.close();
        return { kind: "close" };
    }
  };

  port.on("message", (request: WriterRequest) => {
    let reply: WriterReply;
    try {
      reply = { type: "reply", id: request.id, ok: true, result: handle(request) };
    } catch (error) {
      // A failed COMMIT (disk full, I/O error) may leave the transaction open: end it so the next
      // commit starts clean once the fault is gone.
      if (db.open && db.inTransaction) {
        try {
          db.exec("ROLLBACK");
        } catch {
          // already rolled back by SQLite
        }
      }
      reply = { type: "reply", id: request.id, ok: false, failure: failureOf(error) };
    }
    port.postMessage(reply, transferablesOf(reply));
  });
  port.postMessage({ type: "ready", source, lastSequence: last } satisfies WriterReply);
}

if (parentPort !== null) serve(parentPort, workerData as WriterConfig);
