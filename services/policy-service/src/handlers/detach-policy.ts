// DetachPolicy: iam:DetachPolicy on the principal's krn. A policy that is not attached is
// POLICY_NOT_FOUND naming policy_krn.
import type { DetachPolicyRequestSchema, DetachPolicyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { attachmentFields } from "./attachment-fields.ts";
import { policyNotFound, principalNotFound } from "./common.ts";

export function detachPolicy(ctx: AppContext): UnaryHandler<typeof DetachPolicyRequestSchema, typeof DetachPolicyResponseSchema> {
  return async (request, call) => {
    const { principal, policy } = attachmentFields(request.principalKrn, request.policyKrn);
    await ctx.access.require(call, "iam:DetachPolicy", principal.krn, { notFound: () => principalNotFound("principal_krn") });
    if ((await ctx.store.getPrincipal(principal.krn)) === undefined) throw principalNotFound("principal_krn");
    if (!(await ctx.store.detachPolicy(principal.krn, policy.krn))) throw policyNotFound("policy_krn");
    return {};
  };
}
