import type { UpdateSecretVersionStageRequestSchema, UpdateSecretVersionStageResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { canonicalLabel, labelsAfterStageUpdate } from "../domain/labels.ts";
import { validateVersionId } from "../domain/names.ts";
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
    const labels = labelsAfterStageUpdate(ctx.store.labels(secret.secretId), { label, moveTo, removeFrom }, { maxLabelsPerSecret: ctx.config.maxLabelsPerSecret });
    ctx.store.applyVersionChange(secret.secretId, { newVersion: undefined, labels, prune: [], updatedAt: ctx.clock.now() });
    return { name: secret.name, krn };
  };
}
