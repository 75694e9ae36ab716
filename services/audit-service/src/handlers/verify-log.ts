// VerifyLog: re-verifies the stored log over [from_index, to_index) (defaults: the oldest
// retained record, the current size) and answers ok or the first bad record and why;
// audit:VerifyLog on the caller's account's log. The walk starts at the newest checkpoint at
// or before from_index so that its starting point is signed (verified_records counts from
// there); with no to_index it also checks that no checkpoint claims more records than exist.
// first_bad_index is -1 when the problem is a checkpoint itself (signature, fork).
import type { VerifyLogRequestSchema, VerifyLogResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizeRead } from "./access.ts";
import { logIndex } from "./fields.ts";

export function verifyLog(ctx: AppContext): UnaryHandler<typeof VerifyLogRequestSchema, typeof VerifyLogResponseSchema> {
  return async (request, call) => {
    const requestedFrom = logIndex(request.fromIndex, "from_index");
    const to = logIndex(request.toIndex, "to_index");
    await authorizeRead(ctx, call, "audit:VerifyLog");
    const retained = await ctx.store.retainedStart();
    const size = (await ctx.store.head()).size;
    const from = requestedFrom ?? retained;
    if (from < retained) throw invalidArgument("from_index", `records before ${retained} were removed by retention`);
    if (to !== undefined && to > size) throw invalidArgument("to_index", `is beyond the log (${size} records)`);
    if (from > (to ?? size)) throw invalidArgument("from_index", "must not be after to_index or the log's size");
    const outcome = await ctx.log.verify(from, to);
    return {
      ok: outcome.ok,
      verifiedRecords: BigInt(outcome.verifiedRecords),
      firstBadIndex: BigInt(outcome.problem?.index ?? 0),
      problem: outcome.problem?.message ?? "",
    };
  };
}
