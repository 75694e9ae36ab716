// The outbox's SQLite writer, run in its own worker thread so that the fsync of each commit
// never blocks the service's event loop. It owns the only connection to the file: WAL,
// synchronous=FULL (the WAL is fsynced before a commit returns). Each "commit" is one
// transaction holding every event of a group commit, so many events share one fsync, and one
// row: the group's events packed back to back with their lengths, numbered from first_sequence
// (a row per event cost several times more per event in SQLite than the events themselves).
// Sequences are never reused: the next one is kept in outbox_meta, in the same transaction, as
// is the acknowledged mark (a row goes once all its events are acknowledged; reads and counts
// start after the mark, so an acknowledged event is gone as far as anyone can tell).
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { packWithSourceFields, sourceField } from "./ingest-wire.ts";
import { packEvents, type PackedEvents, type WriterConfig, type WriterFailure, type WriterReply, type WriterRequest, type WriterResult } from "./outbox-protocol.ts";

const SCHEMA_VERSION = 2;

function failureOf(error: unknown): WriterFailure {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === "string" ? code : error.name, message: error.message };
  }
  return { code: "UNKNOWN", message: String(error) };
}

const lengthsBlob = (lengths: Uint32Array): Buffer => Buffer.from(lengths.buffer, lengths.byteOffset, lengths.byteLength);

function lengthsOf(blob: Buffer): Uint32Array {
  // (Copied: a blob's offset need not be 4-byte aligned.)
  const lengths = new Uint32Array(blob.byteLength / 4);
  new Uint8Array(lengths.buffer).set(blob);
  return lengths;
}

/** Version 1 kept one row per event: move them into one batch row each (sequences kept). */
function migrateFromRowPerEvent(db: Database.Database): void {
  const rows = db.prepare("SELECT sequence, event, appended_at FROM outbox ORDER BY sequence").all() as { sequence: number; event: Buffer; appended_at: number }[];
  const insert = db.prepare("INSERT INTO outbox_batches (first_sequence, last_sequence, events, lengths, appended_at) VALUES (?, ?, ?, ?, ?)");
  for (const row of rows) insert.run(row.sequence, row.sequence, row.event, lengthsBlob(Uint32Array.of(row.event.byteLength)), row.appended_at);
  const last = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").pluck().get() as number | undefined) ?? 0;
  db.prepare("INSERT OR REPLACE INTO outbox_meta (name, value) VALUES ('next_sequence', ?)").run(String(last + 1));
  db.exec("DROP TABLE outbox");
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
        CREATE TABLE IF NOT EXISTS outbox_batches (
          first_sequence INTEGER PRIMARY KEY,
          last_sequence INTEGER NOT NULL,
          events BLOB NOT NULL,
          lengths BLOB NOT NULL,
          appended_at INTEGER NOT NULL
        ) STRICT;
      `);
      if (version === 1) migrateFromRowPerEvent(db);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      db.prepare("INSERT OR IGNORE INTO outbox_meta (name, value) VALUES ('next_sequence', '1')").run();
      db.prepare("INSERT OR IGNORE INTO outbox_meta (name, value) VALUES ('acknowledged_through', '0')").run();
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

interface BatchRow {
  first_sequence: number;
  last_sequence: number;
  events: Buffer;
  lengths: Buffer;
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
  const nextSequenceStmt = db.prepare("SELECT value FROM outbox_meta WHERE name = 'next_sequence'").pluck();
  const setNextSequence = db.prepare("UPDATE outbox_meta SET value = ? WHERE name = 'next_sequence'");
  const acknowledgedStmt = db.prepare("SELECT value FROM outbox_meta WHERE name = 'acknowledged_through'").pluck();
  const setAcknowledged = db.prepare("UPDATE outbox_meta SET value = ? WHERE name = 'acknowledged_through'");
  const insertBatch = db.prepare("INSERT INTO outbox_batches (first_sequence, last_sequence, events, lengths, appended_at) VALUES (?, ?, ?, ?, ?)");
  const deleteThrough = db.prepare("DELETE FROM outbox_batches WHERE last_sequence <= ?");
  const batchesAfter = db.prepare("SELECT first_sequence, last_sequence, events, lengths FROM outbox_batches WHERE last_sequence > ? ORDER BY first_sequence");
  const firstAfter = db.prepare("SELECT first_sequence, appended_at FROM outbox_batches WHERE last_sequence > ? ORDER BY first_sequence LIMIT 1");
  const probe = db.prepare("INSERT OR REPLACE INTO outbox_meta (name, value) VALUES ('probed_at', ?)");
  let transactions = 0;
  let committedEvents = 0;
  let last = Number(nextSequenceStmt.get()) - 1;
  let acknowledged = Number(acknowledgedStmt.get());

  const commit = db.transaction((events: PackedEvents, through: number): number => {
    const count = events.lengths.length;
    let newest = last;
    if (count > 0) {
      const first = last + 1;
      newest = last + count;
      const bytes = events.bytes;
      insertBatch.run(first, newest, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), lengthsBlob(events.lengths), Date.now());
      setNextSequence.run(String(newest + 1));
    }
    const mark = Math.min(through, newest);
    if (mark > acknowledged) {
      setAcknowledged.run(String(mark));
      deleteThrough.run(mark);
    }
    return newest;
  });

  /** Up to `limit` events after sequence `after`, in order, with their sequences. */
  const readAfter = (after: number, limit: number): { events: Uint8Array[]; sequences: Float64Array } => {
    const events: Uint8Array[] = [];
    const sequences: number[] = [];
    for (const row of batchesAfter.iterate(after) as IterableIterator<BatchRow>) {
      const lengths = lengthsOf(row.lengths);
      let offset = 0;
      for (let i = 0; i < lengths.length && events.length < limit; i++) {
        const length = lengths[i]!;
        const sequence = row.first_sequence + i;
        if (sequence > after) {
          events.push(row.events.subarray(offset, offset + length));
          sequences.push(sequence);
        }
        offset += length;
      }
      if (events.length >= limit) break;
    }
    return { events, sequences: Float64Array.from(sequences) };
  };

  const handle = (request: WriterRequest): WriterResult => {
    switch (request.type) {
      case "commit": {
        last = commit.immediate(request.events, request.deleteThrough);
        acknowledged = Math.max(acknowledged, Math.min(request.deleteThrough, last));
        transactions += 1;
        committedEvents += request.events.lengths.length;
        return { kind: "commit", lastSequence: last };
      }
      case "read": {
        const { events, sequences } = readAfter(Math.max(request.after, acknowledged), request.limit);
        return {
          kind: "read",
          events: request.withSourceFields ? packWithSourceFields(events, sequences, sourceBytes) : packEvents(events),
          sequences,
          lastSequence: last,
        };
      }
      case "stats": {
        const after = Math.max(request.after, acknowledged);
        const first = after >= last ? undefined : (firstAfter.get(after) as { first_sequence: number; appended_at: number } | undefined);
        const pending = first === undefined ? 0 : last - Math.max(after + 1, first.first_sequence) + 1;
        return {
          kind: "stats",
          stats: { pending, oldestAppendedAt: first?.appended_at, lastSequence: last, transactions, events: committedEvents },
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
