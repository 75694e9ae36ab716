// ListAccounts: management account principals allowed iam:ListAccounts on
// krn:keyhold:iam::<management>:account/*.
import type { ListAccountsRequestSchema, ListAccountsResponseSchema } from "@keyhold/proto";
import { accessDenied } from "@keyhold/authz";
import { callerOf, decodePageToken, encodePageToken, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { accountKrn } from "../domain/names.ts";
import { accountView } from "./views.ts";

export function listAccounts(ctx: AppContext): UnaryHandler<typeof ListAccountsRequestSchema, typeof ListAccountsResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const limit = pageSize(request.pageSize);
    const after = decodePageToken("accounts", request.pageToken);
    const resource = accountKrn(ctx.config.managementAccountId, "*");
    if (caller.accountId !== ctx.config.managementAccountId) throw accessDenied("iam:ListAccounts", resource);
    await ctx.access.require(call, "iam:ListAccounts", resource);
    const page = await ctx.store.listAccounts(after, limit);
    return { accounts: page.items.map(accountView), nextPageToken: encodePageToken("accounts", page.next) };
  };
}
