// The log writer thread: owns the write connection to the log database and runs a
// LocalLogWriter over it, one request at a time, in order. Appends are decoded, validated,
// hashed, inserted and fsynced here, off the event loop that answers calls.
import { parentPort, workerData } from "node:worker_threads";
import { unpackEvents } from "@keyhold/audit-client";
import { LocalLogWriter } from "../domain/log-writer.ts";
import type { AuditStore } from "../store/audit-store.ts";
import { openSqliteDatabase, SqliteAuditStore } from "../store/sqlite-audit-store.ts";
import { reviveCheckpoint, toWireError, type WriterReply, type WriterRequest, type WriterThreadConfig } from "./protocol.ts";
import { lowerThreadPriority } from "./thread-priority.ts";

const port = parentPort;
if (port === null) throw new Error("log-writer-thread.ts runs as a worker thread");
const config = workerData as WriterThreadConfig;
// Background work: calls are answered first when the CPU is contended (see thread-priority.ts).
const priority = lowerThreadPriority(config.nice);

function post(reply: WriterReply): void {
  port!.postMessage(reply);
}

/** The thread's store; the PostgreSQL client is loaded only when the log is there. */
async function openStore(database: WriterThreadConfig["database"]): Promise<AuditStore> {
  if (database.kind === "sqlite") return new SqliteAuditStore(openSqliteDatabase(database.path));
  const { openPostgresAuditStore } = await import("../store/postgres-audit-store.ts");
  return openPostgresAuditStore(database.url, { schema: database.schema, maxConnections: 2, applicationName: "keyhold-audit-log-writer" });
}

let store: AuditStore;
try {
  store = await openStore(config.database);
} catch (error) {
  post({ type: "open-failed", message: error instanceof Error ? error.message : String(error) });
  throw error;
}
const writer = new LocalLogWriter(store);

async function handle(request: WriterRequest): Promise<unknown> {
  switch (request.op) {
    case "append":
      return writer.append(request.source, unpackEvents(request.events), request.appendedAt);
    case "draft":
      return writer.draftCheckpoint();
    case "put":
      return writer.putCheckpoint(reviveCheckpoint(request.checkpoint), request.previousSize);
    case "prune":
      return writer.prune(request.cutoffSeconds);
    case "halt":
      return writer.halt(request.problem);
    case "close":
      await writer.close();
      await store.close();
      return undefined;
  }
}

// Requests run strictly one after another (a draft or prune yields between chunks; nothing
// else may interleave with it).
let queue: Promise<void> = Promise.resolve();
port.on("message", (request: WriterRequest) => {
  queue = queue.then(async () => {
    try {
      const result = await handle(request);
      post({ type: "reply", id: request.id, ok: true, result });
    } catch (error) {
      post({ type: "reply", id: request.id, ok: false, error: toWireError(error) });
    }
    if (request.op === "close") port.close();
  });
});
post({ type: "ready", priority });
