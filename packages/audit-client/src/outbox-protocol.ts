// The messages between the Outbox (event loop) and its SQLite writer thread. The writer owns
// the only connection to the outbox file; every request is answered in the order it was sent.

export interface WriterConfig {
  /** The SQLite file (created with its directory when missing). */
  readonly path: string;
  /** The service name the source id starts with, used only when the file is created. */
  readonly service: string;
}

export type WriterRequest =
  | {
      readonly type: "commit";
      readonly id: number;
      /** Encoded AuditEvents back to back (one transferred buffer), appended in order in one transaction. */
      readonly events: PackedEvents;
      /** Delete rows up to and including this sequence in the same transaction (0: none). */
      readonly deleteThrough: number;
    }
  | {
      readonly type: "read";
      readonly id: number;
      readonly after: number;
      readonly limit: number;
      /** Append each event's source (field 17) and sequence (field 18), as AppendEvents sends it. */
      readonly withSourceFields: boolean;
    }
  | { readonly type: "stats"; readonly id: number; readonly after: number }
  /** A tiny write transaction: can the file be written (and fsynced) right now? */
  | { readonly type: "probe"; readonly id: number }
  | { readonly type: "close"; readonly id: number };

/** Many encoded events in one buffer: cheap to pass between threads (transferred, not copied). */
export interface PackedEvents {
  readonly bytes: Uint8Array;
  /** The byte length of each event, in order. */
  readonly lengths: Uint32Array;
}

/** Packs encoded events into one buffer. */
export function packEvents(events: readonly Uint8Array[]): PackedEvents {
  let total = 0;
  for (const event of events) total += event.byteLength;
  const bytes = new Uint8Array(total);
  const lengths = new Uint32Array(events.length);
  let offset = 0;
  events.forEach((event, i) => {
    bytes.set(event, offset);
    lengths[i] = event.byteLength;
    offset += event.byteLength;
  });
  return { bytes, lengths };
}

/** The events of a pack, as views into its buffer (no copies). */
export function unpackEvents(packed: PackedEvents): Uint8Array[] {
  const events: Uint8Array[] = [];
  let offset = 0;
  for (const length of packed.lengths) {
    events.push(packed.bytes.subarray(offset, offset + length));
    offset += length;
  }
  return events;
}

export interface WriterFailure {
  /** The SQLite error code (SQLITE_FULL, SQLITE_IOERR_WRITE, SQLITE_READONLY, …) or the error name. */
  readonly code: string;
  readonly message: string;
}

export interface OutboxRow {
  readonly sequence: number;
  readonly event: Uint8Array;
}

export interface WriterStats {
  /** Rows after `after` still in the file. */
  readonly pending: number;
  /** When the oldest of them was committed (ms since the epoch); undefined when none. */
  readonly oldestAppendedAt: number | undefined;
  /** The highest sequence ever assigned (survives deletion of every row). */
  readonly lastSequence: number;
  /** Write transactions committed by this writer since it opened. */
  readonly transactions: number;
  /** Events committed by this writer since it opened. */
  readonly events: number;
}

export type WriterResult =
  | { readonly kind: "commit"; readonly lastSequence: number }
  | { readonly kind: "read"; readonly events: PackedEvents; readonly sequences: Float64Array; readonly lastSequence: number }
  | { readonly kind: "stats"; readonly stats: WriterStats }
  | { readonly kind: "probe" }
  | { readonly kind: "close" };

export type WriterReply =
  | { readonly type: "ready"; readonly source: string; readonly lastSequence: number }
  | { readonly type: "open-failed"; readonly failure: WriterFailure }
  | { readonly type: "reply"; readonly id: number; readonly ok: true; readonly result: WriterResult }
  | { readonly type: "reply"; readonly id: number; readonly ok: false; readonly failure: WriterFailure };
