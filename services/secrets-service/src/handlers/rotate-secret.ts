import { recordAuditDetails } from "@keyhold/audit-client";
import type { RotateSecretRequestSchema, RotateSecretResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { validateVersionId } from "../domain/names.ts";
import { authorizedSecret } from "../domain/secret-access.ts";

export function rotateSecret(ctx: AppContext): UnaryHandler<typeof RotateSecretRequestSchema, typeof RotateSecretResponseSchema> {
  return async (request, call) => {
    const { secret, krn } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:RotateSecret");
    const token = request.versionId === "" ? undefined : validateVersionId(request.versionId, "version_id");
    const versionId = await ctx.rotator.rotate(secret, token, (id) => recordAuditDetails(call, { keyVersionId: id }));
    return { name: secret.name, krn, versionId };
  };
}
