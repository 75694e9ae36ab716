// GetPolicy: iam:GetPolicy on the policy krn. Keyhold-managed policies
// (krn:keyhold:iam::keyhold:policy/<Name>) are readable by anyone whose identity policies allow
// iam:GetPolicy on them, and show the document as it applies in the caller's account. A policy
// of another account answers like a missing one.
import type { GetPolicyRequestSchema, GetPolicyResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requirePolicyKrn } from "../domain/names.ts";
import { policyNotFound } from "./common.ts";
import { managedPolicyView, policyView } from "./views.ts";

export function getPolicy(ctx: AppContext): UnaryHandler<typeof GetPolicyRequestSchema, typeof GetPolicyResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const target = requirePolicyKrn(request.policyKrn, "policy_krn");
    if (target.managed) {
      // Public documents: a refusal says so rather than pretending they do not exist.
      await ctx.access.require(call, "iam:GetPolicy", target.krn);
      return { policy: managedPolicyView(target.name, caller.accountId) };
    }
    await ctx.access.require(call, "iam:GetPolicy", target.krn, { notFound: () => policyNotFound("policy_krn") });
    const policy = await ctx.store.getPolicy(target.krn);
    if (policy === undefined) throw policyNotFound("policy_krn");
    return { policy: policyView(policy) };
  };
}
