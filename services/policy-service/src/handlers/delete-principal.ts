// DeletePrincipal: iam:DeletePrincipal on the principal's krn. Its API keys, policy attachments
// and (for a role) live sessions go with it, at once. The account root cannot be deleted.
import type { DeletePrincipalRequestSchema, DeletePrincipalResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requirePrincipalKrn } from "../domain/names.ts";
import { principalNotFound } from "./common.ts";

export function deletePrincipal(ctx: AppContext): UnaryHandler<typeof DeletePrincipalRequestSchema, typeof DeletePrincipalResponseSchema> {
  return async (request, call) => {
    const target = requirePrincipalKrn(request.principalKrn, "principal_krn");
    if (target.kind === "root") throw invalidArgument("principal_krn", "the account root cannot be deleted");
    await ctx.access.require(call, "iam:DeletePrincipal", target.krn, { notFound: () => principalNotFound("principal_krn") });
    if (!(await ctx.store.deletePrincipal(target.krn))) throw principalNotFound("principal_krn");
    return {};
  };
}
