// GetPrincipal: iam:GetPrincipal on the principal's krn (users, roles and the implicit account
// root). A principal of another account answers like a missing one.
import type { GetPrincipalRequestSchema, GetPrincipalResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requirePrincipalKrn } from "../domain/names.ts";
import { principalNotFound } from "./common.ts";
import { principalView, rootPrincipalView } from "./views.ts";

export function getPrincipal(ctx: AppContext): UnaryHandler<typeof GetPrincipalRequestSchema, typeof GetPrincipalResponseSchema> {
  return async (request, call) => {
    const target = requirePrincipalKrn(request.principalKrn, "principal_krn");
    await ctx.access.require(call, "iam:GetPrincipal", target.krn, { notFound: () => principalNotFound("principal_krn") });
    if (target.kind === "root") {
      const account = await ctx.store.getAccount(target.accountId);
      if (account === undefined) throw principalNotFound("principal_krn");
      return { principal: rootPrincipalView(account) };
    }
    const principal = await ctx.store.getPrincipal(target.krn);
    if (principal === undefined) throw principalNotFound("principal_krn");
    return { principal: principalView(principal) };
  };
}
