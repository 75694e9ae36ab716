// WatchChanges (internal: Keyhold services only): first {sequence: current, kind: "hello"},
// then one message per committed change until the caller goes away. Subscribed before the
// current sequence is read, so no change between the two is lost. A slow reader's backlog is
// bounded: past MAX_BACKLOG pending events the older ones are dropped, keeping the newest
// (every event means "flush everything", so the newest carries what the dropped ones did).
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { WatchChangesRequestSchema, WatchChangesResponseSchema } from "@keyhold/proto";
import type { ServerStreamHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import type { ChangeEvent } from "../store/records.ts";
import { requireKeyholdService } from "./common.ts";

export const MAX_BACKLOG = 1024;

type Message = MessageInitShape<typeof WatchChangesResponseSchema>;

export function watchChanges(ctx: AppContext): ServerStreamHandler<typeof WatchChangesRequestSchema, typeof WatchChangesResponseSchema> {
  return async (_request, call) => {
    requireKeyholdService(call);
    const signal = call.signal;
    const backlog: ChangeEvent[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = ctx.store.onChange((event) => {
      backlog.push(event);
      if (backlog.length > MAX_BACKLOG) backlog.splice(0, backlog.length - MAX_BACKLOG);
      wake?.();
    });
    let hello: bigint;
    try {
      hello = await ctx.store.currentSequence();
    } catch (error) {
      unsubscribe();
      throw error;
    }
    // Unsubscribe on abort itself, not only when the generator finishes: a consumer that stops
    // pulling leaves the generator suspended at a yield, where no finally block would run.
    const onAbort = (): void => {
      unsubscribe();
      wake?.();
    };
    if (signal.aborted) unsubscribe();
    else signal.addEventListener("abort", onAbort, { once: true });

    async function* stream(): AsyncGenerator<Message> {
      try {
        yield { sequence: hello, kind: "hello" };
        while (!signal.aborted) {
          const event = backlog.shift();
          if (event !== undefined) {
            if (event.sequence > hello) yield { sequence: event.sequence, kind: event.kind };
            continue;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        unsubscribe();
        signal.removeEventListener("abort", onAbort);
      }
    }
    return stream();
  };
}
