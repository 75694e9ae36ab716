// ListPolicies: the caller's account's customer-managed policies, then (include_managed) the
// Keyhold-managed ones as they apply in the account; iam:ListPolicies on
// krn:keyhold:iam::<caller account>:policy/*. One order throughout: by krn.
import type { ListPoliciesRequestSchema, ListPoliciesResponseSchema, Policy } from "@keyhold/proto";
import { callerOf, decodePageToken, encodePageToken, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { managedPolicyKrn, policyKrn } from "../domain/names.ts";
import { MANAGED_POLICY_NAMES } from "../domain/policy/index.ts";
import { managedPolicyView, policyView } from "./views.ts";

export function listPolicies(ctx: AppContext): UnaryHandler<typeof ListPoliciesRequestSchema, typeof ListPoliciesResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const limit = pageSize(request.pageSize);
    const list = request.includeManaged ? "policies+managed" : "policies";
    const after = decodePageToken(list, request.pageToken);
    await ctx.access.require(call, "iam:ListPolicies", policyKrn(caller.accountId, "*"));
    // Customer policy krns (krn:keyhold:iam::<digits>:...) sort before managed ones (...::keyhold:...).
    const page = await ctx.store.listPolicies(caller.accountId, after, limit);
    const policies: Policy[] = page.items.map(policyView);
    let next = page.next;
    if (request.includeManaged && next === undefined) {
      const managed = [...MANAGED_POLICY_NAMES]
        .map((name) => ({ name, krn: managedPolicyKrn(name) }))
        .filter((m) => after === undefined || m.krn > after)
        .sort((a, b) => (a.krn < b.krn ? -1 : 1));
      for (const m of managed) {
        if (policies.length === limit) {
          next = policies[policies.length - 1]!.krn;
          break;
        }
        policies.push(managedPolicyView(m.name, caller.accountId));
      }
    }
    return { policies, nextPageToken: encodePageToken(list, next) };
  };
}
