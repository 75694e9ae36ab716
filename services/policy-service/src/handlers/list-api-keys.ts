// ListApiKeys: iam:ListApiKeys on the owning principal's krn (the caller when empty).
import type { ListApiKeysRequestSchema, ListApiKeysResponseSchema } from "@keyhold/proto";
import { decodePageToken, encodePageToken, pageSize } from "@keyhold/server-kit";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { apiKeyOwner } from "./api-key-fields.ts";
import { principalNotFound } from "./common.ts";
import { apiKeyView } from "./views.ts";

export function listApiKeys(ctx: AppContext): UnaryHandler<typeof ListApiKeysRequestSchema, typeof ListApiKeysResponseSchema> {
  return async (request, call) => {
    const owner = apiKeyOwner(request.principalKrn, call, "principal_krn");
    const limit = pageSize(request.pageSize);
    const list = `api-keys:${owner.krn}`;
    const after = decodePageToken(list, request.pageToken);
    await ctx.access.require(call, "iam:ListApiKeys", owner.krn, { notFound: () => principalNotFound("principal_krn") });
    const page = await ctx.store.listApiKeys(owner.krn, after, limit);
    return { apiKeys: page.items.map(apiKeyView), nextPageToken: encodePageToken(list, page.next) };
  };
}
