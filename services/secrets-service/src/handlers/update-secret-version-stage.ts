import type { UpdateSecretVersionStageRequestSchema, UpdateSecretVersionStageResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { canonicalLabel, labelsAfterStageUpdate } from "../domain/labels.ts";
import { secretNotFound, validateVersionId } from "../domain/names.ts";
import { authorizedSecret } from "../domain/secret-access.ts";

export function updateSecretVersionStage(
  ctx: AppContext,
): UnaryHandler<typeof UpdateSecretVersionStageRequestSchema, typeof UpdateSecretVersionStageResponseSchema> {
  return async (request, call) => {
    const { secret, krn } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:UpdateSecretVersionStage");
    if (request.versionStage === "") throw invalidArgument("version_stage", "is required");
    const label = canonicalLabel(request.versionStage, "version_stage");
    const moveTo = request.moveToVersionId === "" ? undefined : validateVersionId(request.moveToVersionId, "move_to_version_id");
    const removeFrom = request.removeFromVersionId === "" ? undefined : validateVersionId(request.removeFromVersionId, "remove_from_version_id");
    const limits = { maxLabelsPerSecret: ctx.config.maxLabelsPerSecret };
    // Decided and written in one transaction holding the secret: concurrent moves never lose one another.
    const after = await ctx.store.changeVersions(secret.secretId, (state) => ({
      newVersion: undefined,
      labels: labelsAfterStageUpdate(state.labels, { label, moveTo, removeFrom }, limits),
      prune: [],
      updatedAt: ctx.clock.now(),
    }));
    if (after === undefined) throw secretNotFound("secret_id");
    return { name: secret.name, krn };
  };
}
