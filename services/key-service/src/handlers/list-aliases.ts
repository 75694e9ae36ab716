import type { ListAliasesRequestSchema, ListAliasesResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { resolveKeyRef } from "../domain/key-resolver.ts";
import { parseKeyRef } from "../domain/names.ts";
import { decodePageToken, encodePageToken, pageSize } from "../domain/paging.ts";
import { aliasEntry } from "./views.ts";

export function listAliases(ctx: AppContext): UnaryHandler<typeof ListAliasesRequestSchema, typeof ListAliasesResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    const limit = pageSize(request.pageSize);
    const keyId = request.keyId === "" ? undefined : resolveKeyRef(ctx.store, ctx.config.region, accountId, parseKeyRef(request.keyId, "key_id", false), "key_id").keyId;
    const list = keyId === undefined ? "aliases" : `aliases:${keyId}`;
    const page = ctx.store.listAliases(accountId, keyId, decodePageToken(list, request.pageToken), limit);
    return { aliases: page.items.map((a) => aliasEntry(a, ctx.config.region)), nextPageToken: encodePageToken(list, page.next) };
  };
}
