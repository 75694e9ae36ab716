// The messages between AuditLog (event loop) and the log writer thread. The thread owns the
// write connection to the log database; requests are answered in the order they were sent.
// Buffers cross the thread boundary as Uint8Array (structured clone) and are revived here.
import { KeyholdError, type Reason } from "@keyhold/server-kit";
import type { PackedEvents } from "@keyhold/audit-client";
import { CheckpointConflictError, CheckpointRegressionError, type StoredCheckpoint } from "../store/audit-store.ts";
import type { CheckpointDraft, DraftOutcome } from "../domain/log-writer.ts";
import type { PriorityOutcome } from "./thread-priority.ts";

/** The log's database, already created and migrated by the main thread. */
export type WriterDatabase =
  | { readonly kind: "sqlite"; readonly path: string }
  /** The thread opens its own small pool on the service's schema. */
  | { readonly kind: "postgres"; readonly url: string; readonly schema: string };

export interface WriterThreadConfig {
  readonly database: WriterDatabase;
  /** The thread's nice value (0 to 19; 0: unchanged): it yields to the threads answering calls. */
  readonly nice: number;
}

export type WriterRequest =
  | { readonly op: "append"; readonly id: number; readonly source: string; readonly events: PackedEvents; readonly appendedAt: number }
  | { readonly op: "draft"; readonly id: number }
  | { readonly op: "put"; readonly id: number; readonly checkpoint: StoredCheckpoint; readonly previousSize: number | null }
  | { readonly op: "prune"; readonly id: number; readonly cutoffSeconds: bigint }
  | { readonly op: "halt"; readonly id: number; readonly problem: string }
  | { readonly op: "close"; readonly id: number };

/** An error as it crosses the thread boundary (KeyholdErrors keep reason, field and metadata). */
export type WireError =
  | {
      readonly kind: "keyhold";
      readonly reason: Reason;
      readonly message: string;
      readonly field: string | undefined;
      readonly metadata: Readonly<Record<string, string>>;
    }
  | { readonly kind: "regression"; readonly message: string }
  | { readonly kind: "conflict"; readonly message: string }
  | { readonly kind: "error"; readonly name: string; readonly message: string };

export type WriterReply =
  | { readonly type: "ready"; readonly priority: PriorityOutcome }
  | { readonly type: "open-failed"; readonly message: string }
  | { readonly type: "reply"; readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly type: "reply"; readonly id: number; readonly ok: false; readonly error: WireError };

export function toWireError(error: unknown): WireError {
  if (error instanceof KeyholdError) {
    return { kind: "keyhold", reason: error.reason, message: error.message, field: error.field, metadata: { ...error.metadata } };
  }
  if (error instanceof CheckpointRegressionError) return { kind: "regression", message: error.message };
  if (error instanceof CheckpointConflictError) return { kind: "conflict", message: error.message };
  if (error instanceof Error) return { kind: "error", name: error.name, message: error.message };
  return { kind: "error", name: "Error", message: String(error) };
}

export function fromWireError(wire: WireError): Error {
  switch (wire.kind) {
    case "keyhold":
      return new KeyholdError(wire.reason, wire.message, { ...(wire.field === undefined ? {} : { field: wire.field }), metadata: wire.metadata });
    case "regression":
      return new CheckpointRegressionError(wire.message);
    case "conflict":
      return new CheckpointConflictError(wire.message);
    case "error": {
      const error = new Error(`log writer: ${wire.message}`);
      error.name = wire.name;
      return error;
    }
  }
}

const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function reviveCheckpoint(checkpoint: StoredCheckpoint): StoredCheckpoint {
  return {
    ...checkpoint,
    rootHash: toBuffer(checkpoint.rootHash),
    chainHash: toBuffer(checkpoint.chainHash),
    signature: toBuffer(checkpoint.signature),
    frontier: checkpoint.frontier.map(toBuffer),
  };
}

function reviveDraft(draft: CheckpointDraft): CheckpointDraft {
  return { ...draft, rootHash: toBuffer(draft.rootHash), chainHash: toBuffer(draft.chainHash), frontier: draft.frontier.map(toBuffer) };
}

export function reviveDraftOutcome(outcome: DraftOutcome): DraftOutcome {
  switch (outcome.kind) {
    case "unchanged":
      return { kind: "unchanged", latest: reviveCheckpoint(outcome.latest) };
    case "draft":
      return { kind: "draft", draft: reviveDraft(outcome.draft) };
    case "integrity-failure":
      return outcome;
  }
}
