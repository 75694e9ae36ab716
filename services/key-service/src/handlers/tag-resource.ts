import type { TagResourceRequestSchema, TagResourceResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { MAX_TAGS_PER_RESOURCE, validateTags } from "../domain/tags.ts";

export function tagResource(ctx: AppContext): UnaryHandler<typeof TagResourceRequestSchema, typeof TagResourceResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:TagResource", { allowAlias: false });
    const accountId = key.accountId;
    if (request.tags.length === 0) throw invalidArgument("tags", "at least one tag is required");
    const tags = validateTags(request.tags, "tags");
    if (await ctx.store.putTags(accountId, key.keyId, tags, MAX_TAGS_PER_RESOURCE) === "limit") {
      throw invalidArgument("tags", `a resource can have at most ${MAX_TAGS_PER_RESOURCE} tags`);
    }
    return {};
  };
}
