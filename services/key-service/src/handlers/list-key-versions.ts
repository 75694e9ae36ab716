import type { ListKeyVersionsRequestSchema, ListKeyVersionsResponseSchema } from "@keyhold/proto";
import { decodePageToken, encodePageToken, invalidArgument, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { assertVersionsListable } from "../domain/rotation.ts";
import { keyVersionView } from "./views.ts";

const VERSION_CURSOR = /^[0-9]{16}\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function listKeyVersions(ctx: AppContext): UnaryHandler<typeof ListKeyVersionsRequestSchema, typeof ListKeyVersionsResponseSchema> {
  return async (request, call) => {
    const limit = pageSize(request.pageSize);
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:ListKeyVersions");
    assertVersionsListable(key, "key_id");
    const list = `versions:${key.keyId}`;
    const after = decodePageToken(list, request.pageToken);
    if (after !== undefined && !VERSION_CURSOR.test(after)) throw invalidArgument("page_token", "is not a token this list returned");
    const page = await ctx.store.listVersions(key.accountId, key.keyId, after, limit);
    return {
      keyVersions: page.items.map((version) => keyVersionView(version, key, ctx.config.region)),
      nextPageToken: encodePageToken(list, page.next),
    };
  };
}
