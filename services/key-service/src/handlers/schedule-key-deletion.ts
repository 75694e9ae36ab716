import { KeyState, type ScheduleKeyDeletionRequestSchema, type ScheduleKeyDeletionResponseSchema } from "@keyhold/proto";
import { KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { assertNotPendingDeletion, pendingWindowDays } from "../domain/key-lifecycle.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { DAY_MS } from "../domain/rotation.ts";
import { keyMetadata } from "./views.ts";

export function scheduleKeyDeletion(ctx: AppContext): UnaryHandler<typeof ScheduleKeyDeletionRequestSchema, typeof ScheduleKeyDeletionResponseSchema> {
  return async (request, call) => {
    const days = pendingWindowDays(request.pendingWindowInDays, "pending_window_in_days");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:ScheduleKeyDeletion");
    const deletionDate = new Date(ctx.clock.now().getTime() + days * DAY_MS);
    const updated = await ctx.store.updateKey(key.accountId, key.keyId, (current) => {
      assertNotPendingDeletion(current, "key_id");
      if (current.deletionProtection) {
        throw new KeyholdError("DELETION_PROTECTED", "key_id: the key has deletion protection; turn it off first", { field: "key_id" });
      }
      return { state: KeyState.PENDING_DELETION, deletionDate };
    });
    if (updated === undefined) throw keyNotFound("key_id");
    return { keyMetadata: keyMetadata(updated, ctx.config.region) };
  };
}
