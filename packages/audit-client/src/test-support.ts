// Helpers for this package's tests: temporary outbox files, sample events, polling.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { AuditEventSchema, type AuditEvent } from "@keyhold/proto";
import { encodeAuditEvent } from "./canonical-event.ts";
import type { Outbox } from "./outbox.ts";

export interface TempDir {
  readonly path: string;
  file(name: string): string;
  remove(): void;
}

export function tempDir(prefix = "keyhold-audit-"): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, file: (name) => join(path, name), remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function sampleEvent(n: number): AuditEvent {
  return create(AuditEventSchema, {
    eventId: `event-${n}`,
    service: "key-service",
    action: "kms:Encrypt",
    principalKrn: "krn:keyhold:iam::111122223333:user/alice",
    accountId: "111122223333",
    resource: "krn:keyhold:kms:local:111122223333:key/0b6c1f6e-8f7e-4a4b-9d0e-5f1c2a3b4c5d",
    outcome: { code: 0, reason: "" },
  });
}

/** sampleEvent(n), encoded as the outbox stores it. */
export function sampleEventBytes(n: number): Uint8Array {
  return encodeAuditEvent(sampleEvent(n));
}

/** Every row of the outbox, decoded. */
export async function outboxEvents(outbox: Outbox): Promise<{ sequence: number; event: AuditEvent }[]> {
  const all: { sequence: number; event: AuditEvent }[] = [];
  for (;;) {
    const { rows } = await outbox.read(all.at(-1)?.sequence ?? 0, 1000);
    if (rows.length === 0) return all;
    for (const row of rows) all.push({ sequence: row.sequence, event: fromBinary(AuditEventSchema, row.event) });
  }
}

export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
