// GetEvent: one event with its place in the log and its hashes; audit:GetEvent on the caller's
// account's log. Another account's event answers like a missing one (except to the management account).
import type { GetEventRequestSchema, GetEventResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { eventNotFound } from "../domain/errors.ts";
import { decodeEvent } from "../domain/event.ts";
import { authorizeRead } from "./access.ts";

const ANY_CASE_UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function getEvent(ctx: AppContext): UnaryHandler<typeof GetEventRequestSchema, typeof GetEventResponseSchema> {
  return async (request, call) => {
    if (request.eventId === "") throw invalidArgument("event_id", "is required");
    if (!ANY_CASE_UUID.test(request.eventId)) throw invalidArgument("event_id", "must be a UUID");
    const scope = await authorizeRead(ctx, call, "audit:GetEvent");
    const record = await ctx.store.recordByEventId(request.eventId.toLowerCase(), scope.accountId);
    if (record === undefined) throw eventNotFound("event_id");
    return {
      record: { index: BigInt(record.index), event: decodeEvent(record.eventBytes), leafHash: record.leafHash, chainHash: record.chainHash },
    };
  };
}
