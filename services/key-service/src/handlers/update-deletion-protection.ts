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
    if (request.enabled) assertNotPendingDeletion(key, "key_id");
    const updated = key.deletionProtection === request.enabled ? key : ctx.store.updateKey(key.accountId, key.keyId, { deletionProtection: request.enabled });
    if (updated === undefined) throw keyNotFound("key_id");
    return { keyMetadata: keyMetadata(updated, ctx.config.region) };
  };
}
