// Outbox micro-benchmark: N concurrent appenders (each appends its next event as soon as the
// previous one is durable, like N concurrent calls) for a fixed time. Prints events/s, events
// per transaction, append latency and the event loop's delay (perf_hooks.monitorEventLoopDelay).
//
//   node packages/audit-client/bench/outbox-throughput.ts [--appenders 50] [--seconds 5]
//        [--rate N] [--writer worker|inline] [--with-shipper] [--dir /path/on/the/disk/to/test]
//
// --rate N          open loop instead: offer N appends/s whatever their latency (like calls
//                   arriving at a server), to see what the outbox costs the event loop at that rate
//
// --writer worker   the Outbox as shipped: SQLite commits in a worker thread (default)
// --writer inline   for comparison: the same group commit with SQLite on the event loop
// --with-shipper    also drain the outbox into an in-process AuditIngestService while appending
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { createRouterTransport } from "@connectrpc/connect";
import { AuditEventSchema, AuditIngestService, type AuditEvent } from "@keyhold/proto";
import Database from "better-sqlite3";
import { AuditShipper, Outbox, protectEncryptionContext, type AuditSink } from "../src/index.ts";

const { values: args } = parseArgs({
  options: {
    appenders: { type: "string", default: "50" },
    rate: { type: "string" },
    seconds: { type: "string", default: "5" },
    writer: { type: "string", default: "worker" },
    "with-shipper": { type: "boolean", default: false },
    dir: { type: "string" },
  },
});
const appenders = Number(args.appenders);
const seconds = Number(args.seconds);
const rate = args.rate === undefined ? undefined : Number(args.rate);
const writer = args.writer;
if (writer !== "worker" && writer !== "inline") throw new Error("--writer is worker or inline");

const HMAC_KEY = new Uint8Array(32).fill(3);
let counter = 0;

/** An event shaped like an Encrypt's (≈ 450 bytes encoded). */
function encryptEvent(): AuditEvent {
  counter += 1;
  return create(AuditEventSchema, {
    eventId: crypto.randomUUID(),
    time: timestampNow(),
    service: "key-service",
    action: "kms:Encrypt",
    principalKrn: "krn:keyhold:iam::111122223333:role/app-server",
    accountId: "111122223333",
    sourceIp: "10.12.34.56",
    userAgent: "grpc-go/1.75.0",
    requestId: `req-${counter}`,
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    resource: "krn:keyhold:kms:local:111122223333:key/0b6c1f6e-8f7e-4a4b-9d0e-5f1c2a3b4c5d",
    keyVersionId: "5f1c2a3b-4c5d-4a4b-9d0e-0b6c1f6e8f7e",
    encryptionContext: protectEncryptionContext({ tenant: "acme", purpose: "invoice" }, HMAC_KEY, false),
    outcome: { code: 0, reason: "" },
    latencyMicros: 180n,
  });
}

/** The comparison: group commit with better-sqlite3 on the event loop (one transaction per turn). */
function inlineOutbox(path: string): AuditSink & { transactions(): number; close(): void } {
  const db = new Database(path);
  db.pragma("locking_mode = EXCLUSIVE");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec("CREATE TABLE IF NOT EXISTS outbox (sequence INTEGER PRIMARY KEY AUTOINCREMENT, event BLOB NOT NULL, appended_at INTEGER NOT NULL)");
  const insert = db.prepare("INSERT INTO outbox (event, appended_at) VALUES (?, ?)");
  let queue: { bytes: Uint8Array; resolve: () => void }[] = [];
  let scheduled = false;
  let transactions = 0;
  const commit = db.transaction((batch: typeof queue) => {
    const now = Date.now();
    for (const item of batch) insert.run(Buffer.from(item.bytes.buffer, item.bytes.byteOffset, item.bytes.byteLength), now);
  });
  const flush = () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    commit.immediate(batch);
    transactions += 1;
    for (const item of batch) item.resolve();
  };
  return {
    append: (event) =>
      new Promise<void>((resolve) => {
        queue.push({ bytes: toBinary(AuditEventSchema, event), resolve });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      }),
    transactions: () => transactions,
    close: () => db.close(),
  };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const dir = mkdtempSync(join(args.dir ?? tmpdir(), "keyhold-outbox-bench-"));
try {
  const path = join(dir, "outbox.db");
  const outbox = writer === "worker" ? await Outbox.open({ path, service: "bench" }) : undefined;
  const inline = writer === "inline" ? inlineOutbox(path) : undefined;
  const sink: AuditSink = outbox ?? inline!;

  let shipped = 0;
  const shipper =
    outbox !== undefined && args["with-shipper"]
      ? new AuditShipper({
          outbox,
          transport: createRouterTransport(({ service }) =>
            service(AuditIngestService, {
              appendEvents(request) {
                shipped += request.events.length;
                return { acknowledgedThrough: request.events.at(-1)?.sourceSequence ?? 0n };
              },
            }),
          ),
        })
      : undefined;
  shipper?.start();

  // The event loop's delay with nothing to do (the floor: timer resolution, other load on the machine).
  const idleDelay = monitorEventLoopDelay({ resolution: 1 });
  idleDelay.enable();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  idleDelay.disable();

  // Warm up (JIT, first pages of the file), then measure.
  await Promise.all(Array.from({ length: 2000 }, () => sink.append(encryptEvent())));
  const transactionsBefore = outbox !== undefined ? (await outbox.stats()).transactions : inline!.transactions();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  const latencies = new Float64Array(2_000_000);
  let appended = 0;
  const deadline = performance.now() + seconds * 1000;
  loopDelay.enable();
  const started = performance.now();
  const timed = async () => {
    const t0 = performance.now();
    await sink.append(encryptEvent());
    if (appended < latencies.length) latencies[appended] = performance.now() - t0;
    appended += 1;
  };
  if (rate === undefined) {
    await Promise.all(
      Array.from({ length: appenders }, async () => {
        while (performance.now() < deadline) await timed();
      }),
    );
  } else {
    const pending: Promise<void>[] = [];
    let owed = 0;
    let last = performance.now();
    while (last < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const now = performance.now();
      owed += ((now - last) * rate) / 1000;
      last = now;
      for (; owed >= 1; owed -= 1) pending.push(timed());
    }
    await Promise.all(pending);
  }
  const elapsed = (performance.now() - started) / 1000;
  loopDelay.disable();
  const transactions = (outbox !== undefined ? (await outbox.stats()).transactions : inline!.transactions()) - transactionsBefore;
  const sorted = latencies.slice(0, Math.min(appended, latencies.length)).sort();
  const ms = (ns: number) => (ns / 1e6).toFixed(2);

  const load = rate === undefined ? `${appenders} appenders` : `open loop at ${rate}/s`;
  console.log(`writer            ${writer}${shipper === undefined ? "" : " + shipper"}   (${load}, ${seconds} s, ${dir})`);
  console.log(`events/s          ${Math.round(appended / elapsed)}`);
  console.log(`events/commit     ${(appended / Math.max(1, transactions)).toFixed(1)}   (${transactions} transactions)`);
  console.log(`append latency    p50 ${percentile(sorted, 50).toFixed(2)} ms   p99 ${percentile(sorted, 99).toFixed(2)} ms`);
  console.log(`event-loop delay  p50 ${ms(loopDelay.percentile(50))} ms   p99 ${ms(loopDelay.percentile(99))} ms   max ${ms(loopDelay.max)} ms`);
  console.log(`  idle baseline   p50 ${ms(idleDelay.percentile(50))} ms   p99 ${ms(idleDelay.percentile(99))} ms   max ${ms(idleDelay.max)} ms`);
  if (shipper !== undefined) {
    const stop = await shipper.stop(10_000);
    console.log(`shipped           ${shipped} events (flushed: ${stop.flushed})`);
  }
  await outbox?.close();
  inline?.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
