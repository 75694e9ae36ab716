// GetResourcePolicy (internal, for the end caller's GetKeyPolicy): kms:GetKeyPolicy on the key
// krn for the forwarded END caller. A key without a policy of its own shows the default key
// policy (the owner account's root may do everything) with is_default set.
import type { GetResourcePolicyRequestSchema, GetResourcePolicyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireKeyKrn } from "../domain/names.ts";
import { defaultKeyPolicy } from "../domain/policy/index.ts";
import { keyNotFound, requireKeyholdService } from "./common.ts";

export function getResourcePolicy(ctx: AppContext): UnaryHandler<typeof GetResourcePolicyRequestSchema, typeof GetResourcePolicyResponseSchema> {
  return async (request, call) => {
    requireKeyholdService(call);
    const key = requireKeyKrn(request.resource, "resource");
    await ctx.access.require(call, "kms:GetKeyPolicy", key.krn, { notFound: () => keyNotFound("resource") });
    const stored = await ctx.store.getResourcePolicy(key.krn);
    return stored === undefined ? { document: defaultKeyPolicy(key.accountId), isDefault: true } : { document: stored.document, isDefault: false };
  };
}
