// One AppendEvents batch from its encoded events to what the log stores: each event decoded,
// validated, given its source and encoded canonically, in consecutive source_sequence order.
// Runs where the log is written (the log writer thread), so the event loop that serves calls
// never decodes or hashes events. Events that came in their canonical encoding (what the
// services' encoder writes, with the shipper's source fields appended) are not encoded again.
import { invalidArgument } from "@keyhold/server-kit";
import type { PreparedEvent } from "./audit-log.ts";
import { encodeForLog, eventColumns, validateIngestEvent } from "./event.ts";
import { decodeEventWithShape, type DecodedEvent } from "./event-decoder.ts";

export function prepareBatch(source: string, encoded: readonly Uint8Array[]): PreparedEvent[] {
  const prepared: PreparedEvent[] = [];
  let previous: bigint | undefined;
  encoded.forEach((bytes, i) => {
    let decoded: DecodedEvent;
    try {
      decoded = decodeEventWithShape(bytes);
    } catch {
      throw invalidArgument(`events[${i}]`, "is not a valid keyhold.audit.v1.AuditEvent");
    }
    const event = validateIngestEvent(decoded.fields, i, source);
    if (previous !== undefined && event.sourceSequence !== previous + 1n) {
      throw invalidArgument(`events[${i}].source_sequence`, "must follow the previous event's by exactly one");
    }
    previous = event.sourceSequence;
    // (validateIngestEvent returns the same object unless it filled in the source.)
    const canonical = event === decoded.fields ? decoded.canonicalBytes : undefined;
    prepared.push({ bytes: canonical ?? encodeForLog(event), columns: eventColumns(event) });
  });
  return prepared;
}
