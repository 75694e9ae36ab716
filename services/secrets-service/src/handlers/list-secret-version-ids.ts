import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ListSecretVersionIdsRequestSchema, ListSecretVersionIdsResponseSchema } from "@keyhold/proto";
import { decodePageToken, encodePageToken, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedSecret } from "../domain/secret-access.ts";

export function listSecretVersionIds(ctx: AppContext): UnaryHandler<typeof ListSecretVersionIdsRequestSchema, typeof ListSecretVersionIdsResponseSchema> {
  return async (request, call) => {
    const { secret, krn } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:ListSecretVersionIds", { allowPendingDeletion: true });
    const limit = pageSize(request.pageSize);
    const list = `versions ${secret.secretId} ${request.includeDeprecated}`;
    const after = decodePageToken(list, request.pageToken);
    const labels = await ctx.store.labels(secret.secretId);
    const versions = (await ctx.store.listVersions(secret.secretId)).filter((v) => request.includeDeprecated || (labels.get(v.versionId)?.length ?? 0) > 0);
    // Newest first, as AWS lists them.
    versions.reverse();
    const start = after === undefined ? 0 : versions.findIndex((v) => v.versionId === after) + 1;
    const page = versions.slice(start, start + limit);
    const more = start + limit < versions.length;
    return {
      name: secret.name,
      krn,
      versions: page.map((v) => ({ versionId: v.versionId, versionStages: [...(labels.get(v.versionId) ?? [])], createdDate: timestampFromDate(v.createdAt), kmsKeyId: v.keyKrn })),
      nextPageToken: encodePageToken(list, more ? page[page.length - 1]?.versionId : undefined),
    };
  };
}
