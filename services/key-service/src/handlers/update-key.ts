import type { UpdateKeyRequestSchema, UpdateKeyResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { keyNotFound, resolveKey } from "../domain/key-resolver.ts";
import { validateDescription } from "./create-key.ts";
import { keyMetadata } from "./views.ts";

export function updateKey(ctx: AppContext): UnaryHandler<typeof UpdateKeyRequestSchema, typeof UpdateKeyResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    validateDescription(request.description);
    const key = resolveKey(ctx.store, ctx.config.region, accountId, request.keyId, "key_id");
    const updated = ctx.store.updateKey(accountId, key.keyId, { description: request.description });
    if (updated === undefined) throw keyNotFound("key_id");
    return { keyMetadata: keyMetadata(updated, ctx.config.region) };
  };
}

