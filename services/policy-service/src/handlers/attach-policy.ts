// AttachPolicy: iam:AttachPolicy on the principal's krn (attaching is changing what the
// principal may do). Attaching an attached policy again is a no-op.
import type { AttachPolicyRequestSchema, AttachPolicyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { attachmentFields } from "./attachment-fields.ts";
import { policyNotFound, principalNotFound } from "./common.ts";

export function attachPolicy(ctx: AppContext): UnaryHandler<typeof AttachPolicyRequestSchema, typeof AttachPolicyResponseSchema> {
  return async (request, call) => {
    const { principal, policy } = attachmentFields(request.principalKrn, request.policyKrn);
    await ctx.access.require(call, "iam:AttachPolicy", principal.krn, { notFound: () => principalNotFound("principal_krn") });
    const outcome = await ctx.store.attachPolicy({ principalKrn: principal.krn, policyKrn: policy.krn, attachedAt: ctx.clock.now() }, !policy.managed);
    if (outcome === "principal-missing") throw principalNotFound("principal_krn");
    if (outcome === "policy-missing") throw policyNotFound("policy_krn");
    return {};
  };
}
