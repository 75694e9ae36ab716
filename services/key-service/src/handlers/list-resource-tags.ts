import type { ListResourceTagsRequestSchema, ListResourceTagsResponseSchema } from "@keyhold/proto";
import { decodePageToken, encodePageToken, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";

export function listResourceTags(ctx: AppContext): UnaryHandler<typeof ListResourceTagsRequestSchema, typeof ListResourceTagsResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:ListResourceTags", { allowAlias: false });
    const accountId = key.accountId;
    const limit = pageSize(request.pageSize);
    const list = `tags:${key.keyId}`;
    const page = await ctx.store.listTags(accountId, key.keyId, decodePageToken(list, request.pageToken), limit);
    return { tags: page.items.map((t) => ({ tagKey: t.key, tagValue: t.value })), nextPageToken: encodePageToken(list, page.next) };
  };
}
