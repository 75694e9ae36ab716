// ExportEvents: the log as JSON Lines (format in domain/export.ts) in chunks of about 64 KiB:
// a header with the state before from_index, one line per record up to the end checkpoint, and
// that signed checkpoint with the public key. audit:ExportEvents on the caller's account's log.
// Records the caller may not see (other accounts', unless it is the management account) and
// records past to_index (up to the checkpoint) carry their hashes only, so the export still
// verifies offline against the signed checkpoint. The export ends at the first checkpoint at or
// after to_index (default: the current size), signing a fresh one when none covers it yet.
import type { ExportEventsRequestSchema, ExportEventsResponseSchema } from "@keyhold/proto";
import { invalidArgument, type ServerStreamHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { checkpointLine, headerLine, recordLine } from "../domain/export.ts";
import { authorizeRead, visible } from "./access.ts";
import { logIndex } from "./fields.ts";

const CHUNK_BYTES = 64 * 1024;
const RECORDS_PER_READ = 1000;

export function exportEvents(ctx: AppContext): ServerStreamHandler<typeof ExportEventsRequestSchema, typeof ExportEventsResponseSchema> {
  return async (request, call) => {
    const requestedFrom = logIndex(request.fromIndex, "from_index");
    const requestedTo = logIndex(request.toIndex, "to_index");
    const scope = await authorizeRead(ctx, call, "audit:ExportEvents");
    const retained = await ctx.store.retainedStart();
    const size = (await ctx.store.head()).size;
    const from = requestedFrom ?? retained;
    const to = requestedTo ?? size;
    if (from < retained) throw invalidArgument("from_index", `records before ${retained} were removed by retention`);
    if (to > size) throw invalidArgument("to_index", `is beyond the log (${size} records)`);
    if (from > to) throw invalidArgument("from_index", "must not be after to_index");
    const latest = await ctx.log.latestCheckpoint();
    const covering = latest !== undefined && latest.treeSize >= to ? await ctx.store.checkpointAtOrAfter(to) : undefined;
    const checkpoint = covering ?? (await ctx.log.checkpoint());
    const start = await ctx.log.startState(from);
    const end = checkpoint.treeSize;
    const log = ctx.log;
    const store = ctx.store;
    const signal = call.signal;

    async function* stream(): AsyncGenerator<{ jsonl: Uint8Array }> {
      const release = log.beginRead();
      try {
        let pending = headerLine(start);
        for (let next = from; next < end; ) {
          if (signal.aborted) return;
          const batch = await store.records(next, end, RECORDS_PER_READ);
          // Missing records are not papered over: the export shows the log as stored, and the
          // verifier names what is wrong with it.
          if (batch.length === 0) break;
          for (const record of batch) {
            const shown = record.index < to && visible(scope, record.columns.accountId);
            pending += recordLine(record.index, shown ? record.eventBytes : undefined, record.leafHash, record.chainHash);
            if (pending.length >= CHUNK_BYTES) {
              yield { jsonl: Buffer.from(pending, "utf8") };
              pending = "";
            }
          }
          next = batch[batch.length - 1]!.index + 1;
        }
        pending += checkpointLine(checkpoint, ctx.signer.publicKeyPem);
        yield { jsonl: Buffer.from(pending, "utf8") };
      } finally {
        release();
      }
    }
    return stream();
  };
}
