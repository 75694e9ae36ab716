import type { SecretsServiceTagResourceRequestSchema, SecretsServiceTagResourceResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedSecret } from "../domain/secret-access.ts";
import { MAX_TAGS_PER_SECRET, validateTags } from "../domain/tags.ts";
import { TagLimitExceeded } from "../store/secret-store.ts";

export function tagResource(ctx: AppContext): UnaryHandler<typeof SecretsServiceTagResourceRequestSchema, typeof SecretsServiceTagResourceResponseSchema> {
  return async (request, call) => {
    const { secret } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:TagResource", { allowPendingDeletion: true });
    if (request.tags.length === 0) throw invalidArgument("tags", "name at least one tag");
    const tags = validateTags(request.tags, "tags");
    try {
      await ctx.store.putTags(secret.secretId, tags, MAX_TAGS_PER_SECRET);
    } catch (error) {
      if (error instanceof TagLimitExceeded) throw invalidArgument("tags", `a secret has at most ${MAX_TAGS_PER_SECRET} tags`);
      throw error;
    }
    return {};
  };
}
