import { recordAuditDetails } from "@keyhold/audit-client";
import type { ListAliasesRequestSchema, ListAliasesResponseSchema } from "@keyhold/proto";
import { callerOf, decodePageToken, encodePageToken, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { aliasKrn } from "../domain/names.ts";
import { aliasEntry } from "./views.ts";

export function listAliases(ctx: AppContext): UnaryHandler<typeof ListAliasesRequestSchema, typeof ListAliasesResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    const limit = pageSize(request.pageSize);
    let keyId: string | undefined;
    if (request.keyId === "") {
      recordAuditDetails(call, { resource: aliasKrn(ctx.config.region, accountId, "alias/*") });
      await ctx.access.require(call, "kms:ListAliases", aliasKrn(ctx.config.region, accountId, "alias/*"));
    } else {
      const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:ListAliases", { allowAlias: false });
      if (key.accountId !== accountId) throw keyNotFound("key_id");
      keyId = key.keyId;
    }
    const list = keyId === undefined ? "aliases" : `aliases:${keyId}`;
    const page = await ctx.store.listAliases(accountId, keyId, decodePageToken(list, request.pageToken), limit);
    return { aliases: page.items.map((a) => aliasEntry(a, ctx.config.region)), nextPageToken: encodePageToken(list, page.next) };
  };
}
