// ListPrincipals: the caller's account's users and roles (the implicit root is not listed);
// iam:ListPrincipals on krn:keyhold:iam::<caller account>:*.
import type { ListPrincipalsRequestSchema, ListPrincipalsResponseSchema } from "@keyhold/proto";
import { callerOf, decodePageToken, encodePageToken, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { iamAccountResource } from "../domain/names.ts";
import { principalView } from "./views.ts";

export function listPrincipals(ctx: AppContext): UnaryHandler<typeof ListPrincipalsRequestSchema, typeof ListPrincipalsResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const limit = pageSize(request.pageSize);
    const after = decodePageToken("principals", request.pageToken);
    await ctx.access.require(call, "iam:ListPrincipals", iamAccountResource(caller.accountId));
    const page = await ctx.store.listPrincipals(caller.accountId, after, limit);
    return { principals: page.items.map(principalView), nextPageToken: encodePageToken("principals", page.next) };
  };
}
