// ListAttachedPolicies: iam:ListAttachedPolicies on the principal's krn; in attachment order,
// managed policies shown as they apply in the principal's account. The root has none.
import type { ListAttachedPoliciesRequestSchema, ListAttachedPoliciesResponseSchema, Policy } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { parsePolicyKrn, requirePrincipalKrn } from "../domain/names.ts";
import { principalNotFound } from "./common.ts";
import { managedPolicyView, policyView } from "./views.ts";

export function listAttachedPolicies(ctx: AppContext): UnaryHandler<typeof ListAttachedPoliciesRequestSchema, typeof ListAttachedPoliciesResponseSchema> {
  return async (request, call) => {
    const principal = requirePrincipalKrn(request.principalKrn, "principal_krn");
    await ctx.access.require(call, "iam:ListAttachedPolicies", principal.krn, { notFound: () => principalNotFound("principal_krn") });
    if (principal.kind === "root") return { policies: [] };
    if ((await ctx.store.getPrincipal(principal.krn)) === undefined) throw principalNotFound("principal_krn");
    const policies: Policy[] = [];
    for (const attachment of await ctx.store.listAttachments(principal.krn)) {
      const parsed = parsePolicyKrn(attachment.policyKrn);
      if (parsed === undefined) continue;
      if (parsed.managed) {
        policies.push(managedPolicyView(parsed.name, principal.accountId));
        continue;
      }
      const record = await ctx.store.getPolicy(attachment.policyKrn);
      if (record !== undefined) policies.push(policyView(record));
    }
    return { policies };
  };
}
