import type { GetKeyPolicyRequestSchema, GetKeyPolicyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { asCaller, onBehalf } from "./policy-calls.ts";

export function getKeyPolicy(ctx: AppContext): UnaryHandler<typeof GetKeyPolicyRequestSchema, typeof GetKeyPolicyResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GetKeyPolicy");
    const found = await onBehalf(ctx.policy.getResourcePolicy({ resource: keyKrn(ctx.config.region, key.accountId, key.keyId) }, asCaller(call)));
    return { policy: found.document, isDefault: found.isDefault };
  };
}
