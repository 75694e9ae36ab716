import type { TagResourceRequestSchema, TagResourceResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { resolveKeyRef } from "../domain/key-resolver.ts";
import { parseKeyRef } from "../domain/names.ts";
import { MAX_TAGS_PER_RESOURCE, validateTags } from "../domain/tags.ts";

export function tagResource(ctx: AppContext): UnaryHandler<typeof TagResourceRequestSchema, typeof TagResourceResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    const key = resolveKeyRef(ctx.store, ctx.config.region, accountId, parseKeyRef(request.keyId, "key_id", false), "key_id");
    if (request.tags.length === 0) throw invalidArgument("tags", "at least one tag is required");
    const tags = validateTags(request.tags, "tags");
    if (ctx.store.putTags(accountId, key.keyId, tags, MAX_TAGS_PER_RESOURCE) === "limit") {
      throw invalidArgument("tags", `a resource can have at most ${MAX_TAGS_PER_RESOURCE} tags`);
    }
    return {};
  };
}
