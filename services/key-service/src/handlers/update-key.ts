import type { UpdateKeyRequestSchema, UpdateKeyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { validateDescription } from "./create-key.ts";
import { keyMetadata } from "./views.ts";

export function updateKey(ctx: AppContext): UnaryHandler<typeof UpdateKeyRequestSchema, typeof UpdateKeyResponseSchema> {
  return async (request, call) => {
    validateDescription(request.description);
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:UpdateKey");
    const updated = await ctx.store.updateKey(key.accountId, key.keyId, { description: request.description });
    if (updated === undefined) throw keyNotFound("key_id");
    return { keyMetadata: keyMetadata(updated, ctx.config.region) };
  };
}
