// UpdateRoleTrustPolicy: iam:UpdateRoleTrustPolicy on the role's krn. A role of another account
// answers like a missing one.
import type { UpdateRoleTrustPolicyRequestSchema, UpdateRoleTrustPolicyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireRoleKrn } from "../domain/names.ts";
import { principalNotFound, validatePolicyDocument } from "./common.ts";
import { principalView } from "./views.ts";

export function updateRoleTrustPolicy(ctx: AppContext): UnaryHandler<typeof UpdateRoleTrustPolicyRequestSchema, typeof UpdateRoleTrustPolicyResponseSchema> {
  return async (request, call) => {
    const role = requireRoleKrn(request.roleKrn, "role_krn");
    validatePolicyDocument(request.trustPolicy, "trust", "trust_policy");
    await ctx.access.require(call, "iam:UpdateRoleTrustPolicy", role.krn, { notFound: () => principalNotFound("role_krn") });
    const updated = await ctx.store.updateTrustPolicy(role.krn, request.trustPolicy);
    if (updated === undefined) throw principalNotFound("role_krn");
    return { principal: principalView(updated) };
  };
}
