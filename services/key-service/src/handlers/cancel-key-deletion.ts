import { KeyState, type CancelKeyDeletionRequestSchema, type CancelKeyDeletionResponseSchema } from "@keyhold/proto";
import { KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { hasMaterial } from "../domain/key-lifecycle.ts";
import { keyMetadata } from "./views.ts";

/** Back to Disabled (as AWS KMS), or PendingImport for a key without key material. */
export function cancelKeyDeletion(ctx: AppContext): UnaryHandler<typeof CancelKeyDeletionRequestSchema, typeof CancelKeyDeletionResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:CancelKeyDeletion");
    const state = (await hasMaterial(ctx.store, key)) ? KeyState.DISABLED : KeyState.PENDING_IMPORT;
    const updated = await ctx.store.updateKey(key.accountId, key.keyId, (current) => {
      if (current.state !== KeyState.PENDING_DELETION) {
        throw new KeyholdError("KEY_INVALID_STATE", "key_id: the key is not pending deletion", { field: "key_id" });
      }
      return { state, deletionDate: null };
    });
    if (updated === undefined) throw keyNotFound("key_id");
    return { keyMetadata: keyMetadata(updated, ctx.config.region) };
  };
}
