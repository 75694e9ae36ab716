import type { ListResourceTagsRequestSchema, ListResourceTagsResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { resolveKeyRef } from "../domain/key-resolver.ts";
import { parseKeyRef } from "../domain/names.ts";
import { decodePageToken, encodePageToken, pageSize } from "../domain/paging.ts";

export function listResourceTags(ctx: AppContext): UnaryHandler<typeof ListResourceTagsRequestSchema, typeof ListResourceTagsResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    const key = resolveKeyRef(ctx.store, ctx.config.region, accountId, parseKeyRef(request.keyId, "key_id", false), "key_id");
    const limit = pageSize(request.pageSize);
    const list = `tags:${key.keyId}`;
    const page = ctx.store.listTags(accountId, key.keyId, decodePageToken(list, request.pageToken), limit);
    return { tags: page.items.map((t) => ({ tagKey: t.key, tagValue: t.value })), nextPageToken: encodePageToken(list, page.next) };
  };
}
