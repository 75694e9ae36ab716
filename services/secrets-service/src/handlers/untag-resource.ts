import type { SecretsServiceUntagResourceRequestSchema, SecretsServiceUntagResourceResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedSecret } from "../domain/secret-access.ts";
import { MAX_TAGS_PER_SECRET, validateTagKey } from "../domain/tags.ts";

export function untagResource(ctx: AppContext): UnaryHandler<typeof SecretsServiceUntagResourceRequestSchema, typeof SecretsServiceUntagResourceResponseSchema> {
  return async (request, call) => {
    const { secret } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:UntagResource", { allowPendingDeletion: true });
    if (request.tagKeys.length === 0) throw invalidArgument("tag_keys", "name at least one tag key");
    if (request.tagKeys.length > MAX_TAGS_PER_SECRET) throw invalidArgument("tag_keys", `at most ${MAX_TAGS_PER_SECRET} tag keys`);
    request.tagKeys.forEach((key, i) => validateTagKey(key, `tag_keys[${i}]`));
    await ctx.store.removeTags(secret.secretId, request.tagKeys);
    return {};
  };
}
