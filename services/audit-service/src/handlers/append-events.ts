// AppendEvents (internal: Keyhold services only): one outbox batch, in source_sequence order.
// Idempotent per source: events at or below the source's acknowledged sequence are skipped (a
// retried or overlapping batch appends only what is new); a batch that starts past the next
// expected sequence is FAILED_PRECONDITION AUDIT_SEQUENCE_GAP (metadata acknowledged_through),
// so the shipper resends in order. Answers after the records are durably committed. An empty
// batch appends nothing and answers the source's current mark.
import type { AppendEventsRequestSchema, AppendEventsResponseSchema } from "@keyhold/proto";
import { accessDenied } from "@keyhold/authz";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import type { PreparedEvent } from "../domain/audit-log.ts";
import { encodeForLog, eventColumns, MAX_BATCH_EVENTS, SOURCE, validateIngestEvent } from "../domain/event.ts";

export function appendEvents(ctx: AppContext): UnaryHandler<typeof AppendEventsRequestSchema, typeof AppendEventsResponseSchema> {
  return async (request, call) => {
    if (call.callingService === undefined) throw accessDenied("audit:AppendEvents", "an internal Keyhold API");
    const source = request.source;
    if (source === "") throw invalidArgument("source", "is required");
    if (!SOURCE.test(source)) throw invalidArgument("source", "must be 1 to 256 printable ASCII characters without spaces");
    if (request.events.length > MAX_BATCH_EVENTS) throw invalidArgument("events", `must hold at most ${MAX_BATCH_EVENTS} events`);
    const prepared: PreparedEvent[] = request.events.map((raw, i) => {
      const event = validateIngestEvent(raw, i, source);
      if (i > 0 && event.sourceSequence !== request.events[i - 1]!.sourceSequence + 1n) {
        throw invalidArgument(`events[${i}].source_sequence`, "must follow the previous event's by exactly one");
      }
      return { bytes: encodeForLog(event, `events[${i}]`), columns: eventColumns(event) };
    });
    return { acknowledgedThrough: ctx.log.append(source, prepared) };
  };
}
