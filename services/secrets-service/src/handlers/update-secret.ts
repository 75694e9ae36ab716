import { recordAuditDetails } from "@keyhold/audit-client";
import type { UpdateSecretRequestSchema, UpdateSecretResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedSecret } from "../domain/secret-access.ts";
import { requestValue } from "../domain/values.ts";
import { putVersion } from "../domain/versions.ts";
import type { SecretPatch } from "../store/secret-store.ts";
import { validateDescription, validateKeyRef, versionIdOrNew } from "./fields.ts";

export function updateSecret(ctx: AppContext): UnaryHandler<typeof UpdateSecretRequestSchema, typeof UpdateSecretResponseSchema> {
  return async (request, call) => {
    const { secret, krn } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:UpdateSecret");
    const patch: { description?: string; kmsKeyId?: string } = {};
    if (request.description !== undefined) patch.description = validateDescription(request.description);
    if (request.kmsKeyId !== undefined) {
      patch.kmsKeyId = validateKeyRef(request.kmsKeyId, "kms_key_id");
      // The caller must be able to use the new key (as AWS checks kms:GenerateDataKey).
      if (patch.kmsKeyId !== "") await ctx.keys.describeKey(callerOf(call), patch.kmsKeyId, "kms_key_id");
    }
    const value = requestValue(request.secretString, request.secretBinary);
    const versionId = value === undefined ? "" : versionIdOrNew(request.versionId, "version_id", ctx.newId);
    const now = ctx.clock.now();
    const fullPatch: SecretPatch = { ...patch, updatedAt: now };
    if (value === undefined) {
      await ctx.store.updateSecret(secret.secretId, fullPatch);
      return { name: secret.name, krn, versionId: "" };
    }
    recordAuditDetails(call, { keyVersionId: versionId });
    try {
      // The new value is sealed under the new key, if one was given.
      await putVersion(ctx, callerOf(call), { ...secret, ...patch }, versionId, value, [], fullPatch);
    } finally {
      value.bytes.fill(0);
    }
    return { name: secret.name, krn, versionId };
  };
}
