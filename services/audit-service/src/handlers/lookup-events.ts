// LookupEvents: events matching every given filter, newest event time first, paged;
// audit:LookupEvents on the caller's account's log (see access.ts for who sees which accounts).
// A page token is bound to the filters it was issued for.
import { createHash } from "node:crypto";
import type { LookupEventsRequestSchema, LookupEventsResponseSchema } from "@keyhold/proto";
import { decodePageToken, encodePageToken, invalidArgument, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { ACCOUNT_ID, ACTION, decodeEvent, KRN, MAX_KRN_LENGTH, REASON } from "../domain/event.ts";
import type { LookupCursor, LookupFilter, OutcomeFilter } from "../store/audit-store.ts";
import { authorizeRead } from "./access.ts";
import { optionalTime } from "./fields.ts";

function optionalKrn(value: string, field: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > MAX_KRN_LENGTH || !KRN.test(value)) throw invalidArgument(field, "must be a krn");
  return value;
}

function outcomeFilter(value: string): OutcomeFilter | undefined {
  if (value === "") return undefined;
  if (value === "ok") return { kind: "ok" };
  if (value === "error") return { kind: "error" };
  if (REASON.test(value)) return { kind: "reason", reason: value };
  throw invalidArgument("outcome", `must be "ok", "error" or an ErrorInfo reason such as ACCESS_DENIED`);
}

const CURSOR = /^(-?[0-9]{1,20}):([0-9]{1,16})$/;

function parseCursor(value: string | undefined): LookupCursor | undefined {
  if (value === undefined) return undefined;
  const match = CURSOR.exec(value);
  if (match === null) throw invalidArgument("page_token", "is not a token this list returned");
  return { timeMicros: BigInt(match[1]!), index: Number(match[2]!) };
}

export function lookupEvents(ctx: AppContext): UnaryHandler<typeof LookupEventsRequestSchema, typeof LookupEventsResponseSchema> {
  return async (request, call) => {
    const limit = pageSize(request.pageSize);
    const startMicros = optionalTime(request.startTime, "start_time");
    const endMicros = optionalTime(request.endTime, "end_time");
    if (startMicros !== undefined && endMicros !== undefined && endMicros <= startMicros) throw invalidArgument("end_time", "must be after start_time");
    const principalKrn = optionalKrn(request.principalKrn, "principal_krn");
    if (request.accountId !== "" && !ACCOUNT_ID.test(request.accountId)) throw invalidArgument("account_id", "must be 12 digits");
    if (request.action !== "" && !ACTION.test(request.action)) throw invalidArgument("action", "must be an action such as kms:Encrypt");
    const resource = optionalKrn(request.resource, "resource");
    const outcome = outcomeFilter(request.outcome);
    const filter: LookupFilter = {
      ...(request.accountId === "" ? {} : { accountId: request.accountId }),
      ...(principalKrn === undefined ? {} : { principalKrn }),
      ...(request.action === "" ? {} : { action: request.action }),
      ...(resource === undefined ? {} : { resource }),
      ...(outcome === undefined ? {} : { outcome }),
      ...(startMicros === undefined ? {} : { startMicros }),
      ...(endMicros === undefined ? {} : { endMicros }),
    };
    const listId = `audit-events:${createHash("sha256")
      .update(JSON.stringify(filter, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value)))
      .digest("hex")
      .slice(0, 16)}`;
    const after = parseCursor(decodePageToken(listId, request.pageToken));
    const scope = await authorizeRead(ctx, call, "audit:LookupEvents", filter.accountId);
    const scoped: LookupFilter = scope.accountId === undefined ? filter : { ...filter, accountId: scope.accountId };
    const rows = await ctx.store.lookup(scoped, after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const next = rows.length > limit && last !== undefined ? `${last.columns.timeMicros}:${last.index}` : undefined;
    return { events: page.map((row) => decodeEvent(row.eventBytes)), nextPageToken: encodePageToken(listId, next) };
  };
}
