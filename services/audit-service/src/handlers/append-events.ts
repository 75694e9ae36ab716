// AppendEvents (internal: Keyhold services only): one outbox batch, in source_sequence order.
// Idempotent per source: events at or below the source's acknowledged sequence are skipped (a
// retried or overlapping batch appends only what is new); a batch that starts past the next
// expected sequence is FAILED_PRECONDITION AUDIT_SEQUENCE_GAP (metadata acknowledged_through),
// so the shipper resends in order. Answers after the records are durably committed. An empty
// batch appends nothing and answers the source's current mark. A service may only append to its
// own sources (named `<service>-…`).
//
// Served through the wire-compatible RawAuditIngest view of AuditIngestService: the events
// arrive as their encoded bytes and go to the log writer thread as they are, where they are
// decoded, validated and hashed (this event loop never decodes an event).
import type { RawAuditIngestMethods } from "@keyhold/audit-client";
import { accessDenied } from "@keyhold/authz";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { MAX_BATCH_EVENTS, SOURCE } from "../domain/event.ts";

type AppendEventsMethod = RawAuditIngestMethods["appendEvents"];

export function appendEvents(ctx: AppContext): UnaryHandler<AppendEventsMethod["input"], AppendEventsMethod["output"]> {
  return async (request, call) => {
    if (call.callingService === undefined) throw accessDenied("audit:AppendEvents", "an internal Keyhold API");
    const source = request.source;
    if (source === "") throw invalidArgument("source", "is required");
    if (!SOURCE.test(source)) throw invalidArgument("source", "must be 1 to 256 printable ASCII characters without spaces");
    // A service ships only its own outboxes (`<service>-<random>`): one service cannot write, or
    // move the delivery mark of, another's trail.
    if (!source.startsWith(`${call.callingService}-`)) throw accessDenied("audit:AppendEvents", `a source of ${call.callingService} (${call.callingService}-…)`);
    if (request.events.length > MAX_BATCH_EVENTS) throw invalidArgument("events", `must hold at most ${MAX_BATCH_EVENTS} events`);
    return { acknowledgedThrough: await ctx.log.append(source, request.events) };
  };
}
