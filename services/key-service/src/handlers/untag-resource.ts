import type { UntagResourceRequestSchema, UntagResourceResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { MAX_TAGS_PER_RESOURCE, validateTagKey } from "../domain/tags.ts";

export function untagResource(ctx: AppContext): UnaryHandler<typeof UntagResourceRequestSchema, typeof UntagResourceResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:UntagResource", { allowAlias: false });
    const accountId = key.accountId;
    if (request.tagKeys.length === 0) throw invalidArgument("tag_keys", "at least one tag key is required");
    if (request.tagKeys.length > MAX_TAGS_PER_RESOURCE) throw invalidArgument("tag_keys", `at most ${MAX_TAGS_PER_RESOURCE} tag keys`);
    request.tagKeys.forEach((tagKey, i) => validateTagKey(tagKey, `tag_keys[${i}]`));
    await ctx.store.removeTags(accountId, key.keyId, request.tagKeys);
    return {};
  };
}
