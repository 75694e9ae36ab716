import type { GetKeyRequestSchema, GetKeyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { withAvailability } from "../domain/external-keys.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyMetadata } from "./views.ts";

export function getKey(ctx: AppContext): UnaryHandler<typeof GetKeyRequestSchema, typeof GetKeyResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GetKey");
    return { keyMetadata: keyMetadata(await withAvailability(ctx, key, call), ctx.config.region) };
  };
}
