// DeletePolicy: iam:DeletePolicy on the policy krn; the policy is detached from every
// principal in the same transaction. Managed policies cannot be deleted.
import type { DeletePolicyRequestSchema, DeletePolicyResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requirePolicyKrn } from "../domain/names.ts";
import { policyNotFound } from "./common.ts";

export function deletePolicy(ctx: AppContext): UnaryHandler<typeof DeletePolicyRequestSchema, typeof DeletePolicyResponseSchema> {
  return async (request, call) => {
    const target = requirePolicyKrn(request.policyKrn, "policy_krn");
    if (target.managed) throw invalidArgument("policy_krn", "Keyhold-managed policies cannot be deleted");
    await ctx.access.require(call, "iam:DeletePolicy", target.krn, { notFound: () => policyNotFound("policy_krn") });
    if (!(await ctx.store.deletePolicy(target.krn))) throw policyNotFound("policy_krn");
    return {};
  };
}
