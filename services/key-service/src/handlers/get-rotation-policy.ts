import type { GetRotationPolicyRequestSchema, GetRotationPolicyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { rotationPolicyView } from "./views.ts";

export function getRotationPolicy(ctx: AppContext): UnaryHandler<typeof GetRotationPolicyRequestSchema, typeof GetRotationPolicyResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GetRotationPolicy");
    return { rotationPolicy: rotationPolicyView(key, ctx.config.region) };
  };
}
