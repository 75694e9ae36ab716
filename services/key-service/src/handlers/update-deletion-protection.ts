import type { UpdateDeletionProtectionRequestSchema, UpdateDeletionProtectionResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { assertNotPendingDeletion } from "../domain/key-lifecycle.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { keyMetadata } from "./views.ts";

export function updateDeletionProtection(ctx: AppContext): UnaryHandler<typeof UpdateDeletionProtectionRequestSchema, typeof UpdateDeletionProtectionResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:UpdateDeletionProtection");
    const updated = await ctx.store.updateKey(key.accountId, key.keyId, (current) => {
      if (request.enabled) assertNotPendingDeletion(current, "key_id");
      return current.deletionProtection === request.enabled ? undefined : { deletionProtection: request.enabled };
    });
    if (updated === undefined) throw keyNotFound("key_id");
    return { keyMetadata: keyMetadata(updated, ctx.config.region) };
  };
}
