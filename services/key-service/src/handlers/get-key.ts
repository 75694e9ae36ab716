import type { GetKeyRequestSchema, GetKeyResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { resolveKey } from "../domain/key-resolver.ts";
import { keyMetadata } from "./views.ts";

export function getKey(ctx: AppContext): UnaryHandler<typeof GetKeyRequestSchema, typeof GetKeyResponseSchema> {
  return async (request, call) => {
    const key = resolveKey(ctx.store, ctx.config.region, callerOf(call).accountId, request.keyId, "key_id");
    return { keyMetadata: keyMetadata(key, ctx.config.region) };
  };
}
