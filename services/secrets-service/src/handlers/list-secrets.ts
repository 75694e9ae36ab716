import { recordAuditDetails } from "@keyhold/audit-client";
import type { ListSecretsRequestSchema, ListSecretsResponseSchema } from "@keyhold/proto";
import { callerOf, decodePageToken, encodePageToken, invalidArgument, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { accountSecretsKrn } from "../domain/names.ts";
import { validateTagKey } from "../domain/tags.ts";
import { secretMetadata } from "./views.ts";

export function listSecrets(ctx: AppContext): UnaryHandler<typeof ListSecretsRequestSchema, typeof ListSecretsResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    const krn = accountSecretsKrn(ctx.config.region, accountId);
    recordAuditDetails(call, { resource: krn });
    await ctx.access.require(call, "secrets:ListSecrets", krn);
    const limit = pageSize(request.pageSize);
    const filterKey = JSON.stringify([request.namePrefix, request.tagKey, request.tagValue, request.includePlannedDeletion]);
    const after = decodePageToken(`secrets ${filterKey}`, request.pageToken);
    if (request.namePrefix.length > 512) throw invalidArgument("name_prefix", "must be at most 512 characters");
    if (request.tagKey !== "") validateTagKey(request.tagKey, "tag_key");
    if (request.tagValue !== "" && request.tagKey === "") throw invalidArgument("tag_value", "needs tag_key");
    if (request.tagValue.length > 256) throw invalidArgument("tag_value", "must be at most 256 characters");
    const page = await ctx.store.listSecrets(
      accountId,
      { namePrefix: request.namePrefix, tagKey: request.tagKey, tagValue: request.tagValue, includePlannedDeletion: request.includePlannedDeletion },
      after,
      limit,
    );
    const defaultKey = await ctx.store.getDefaultKey(accountId);
    const secrets = [];
    for (const secret of page.items) {
      secrets.push(secretMetadata(secret, ctx.config.region, await ctx.store.listTags(secret.secretId), await ctx.store.labels(secret.secretId), defaultKey));
    }
    return {
      secrets,
      nextPageToken: encodePageToken(`secrets ${filterKey}`, page.next),
    };
  };
}
