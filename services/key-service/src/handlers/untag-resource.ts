import type { UntagResourceRequestSchema, UntagResourceResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { resolveKeyRef } from "../domain/key-resolver.ts";
import { parseKeyRef } from "../domain/names.ts";
import { MAX_TAGS_PER_RESOURCE, validateTagKey } from "../domain/tags.ts";

export function untagResource(ctx: AppContext): UnaryHandler<typeof UntagResourceRequestSchema, typeof UntagResourceResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    const key = resolveKeyRef(ctx.store, ctx.config.region, accountId, parseKeyRef(request.keyId, "key_id", false), "key_id");
    if (request.tagKeys.length === 0) throw invalidArgument("tag_keys", "at least one tag key is required");
    if (request.tagKeys.length > MAX_TAGS_PER_RESOURCE) throw invalidArgument("tag_keys", `at most ${MAX_TAGS_PER_RESOURCE} tag keys`);
    request.tagKeys.forEach((tagKey, i) => validateTagKey(tagKey, `tag_keys[${i}]`));
    ctx.store.removeTags(accountId, key.keyId, request.tagKeys);
    return {};
  };
}
