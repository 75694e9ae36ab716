// The audit outbox's capacity: events per second that Outbox.append sustains (each committed
// and fsynced before it resolves, many per group commit) with many appends in flight, as the
// audit interceptor makes them, while a shipper-like reader acknowledges what was committed.
// Issue 4 asks for at least twice the Encrypt rate, so the outbox never caps throughput.
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { encodeAuditEvent, Outbox, uuidV7Generator } from "@keyhold/audit-client";

export interface OutboxCapacity {
  readonly eventsPerSecond: number;
  readonly eventsPerCommit: number;
  readonly inFlight: number;
}

/** A typical Encrypt event (its size is what the disk sees). */
function sampleEvent(eventId: string): Uint8Array {
  return encodeAuditEvent({
    eventId,
    time: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 },
    service: "key-service",
    action: "kms:Encrypt",
    principalKrn: "krn:keyhold:iam::000000000001:user/admin",
    accountId: "000000000001",
    sourceIp: "127.0.0.1",
    userAgent: "grpc-go/1.75.0",
    requestId: "0f5e2a9c-4b1d-4e8a-9c3f-2a7b6d5e4c3b",
    traceId: "",
    resource: "krn:keyhold:kms:local:000000000001:key/66b8d2dc-2613-4472-964c-f15b89255ded",
    keyVersionId: "e978886a-14f2-434e-b300-dc0193a0bbbc",
    encryptionContext: {},
    outcome: { code: 0, reason: "" },
    latencyMicros: 180n,
    callingService: "",
    source: "",
    sourceSequence: 0n,
  });
}

export async function measureOutboxCapacity(workDir: string, seconds: number, inFlight = 200): Promise<OutboxCapacity> {
  const dir = await mkdtemp(join(workDir, "outbox-"));
  const outbox = await Outbox.open({ path: join(dir, "outbox.sqlite"), service: "bench" });
  const nextId = uuidV7Generator();
  try {
    // Warm up the writer thread and the file.
    await Promise.all(Array.from({ length: 1000 }, () => outbox.append(sampleEvent(nextId()))));
    const before = await outbox.stats();
    const started = performance.now();
    const until = started + seconds * 1000;
    let appended = 0;
    const appender = async () => {
      while (performance.now() < until) {
        await outbox.append(sampleEvent(nextId()));
        appended++;
      }
    };
    // What a shipper does meanwhile: acknowledge what was committed, so rows are deleted too.
    const acknowledger = async () => {
      while (performance.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        await outbox.acknowledge(outbox.lastSequence);
      }
    };
    await Promise.all([...Array.from({ length: inFlight }, appender), acknowledger()]);
    const elapsed = (performance.now() - started) / 1000;
    const after = await outbox.stats();
    const commits = after.transactions - before.transactions;
    return { eventsPerSecond: appended / elapsed, eventsPerCommit: commits === 0 ? 0 : appended / commits, inFlight };
  } finally {
    await outbox.close();
    await rm(dir, { recursive: true, force: true });
  }
}
