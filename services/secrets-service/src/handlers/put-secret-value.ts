import { recordAuditDetails } from "@keyhold/audit-client";
import type { PutSecretValueRequestSchema, PutSecretValueResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedSecret } from "../domain/secret-access.ts";
import { requestValue } from "../domain/values.ts";
import { putVersion } from "../domain/versions.ts";
import { versionIdOrNew, versionStages } from "./fields.ts";

export function putSecretValue(ctx: AppContext): UnaryHandler<typeof PutSecretValueRequestSchema, typeof PutSecretValueResponseSchema> {
  return async (request, call) => {
    const { secret, krn } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:PutSecretValue");
    const value = requestValue(request.secretString, request.secretBinary);
    if (value === undefined) throw invalidArgument("secret_string", "give secret_string or secret_binary");
    const stages = versionStages(request.versionStages, "version_stages");
    const versionId = versionIdOrNew(request.versionId, "version_id", ctx.newId);
    recordAuditDetails(call, { keyVersionId: versionId });
    try {
      const outcome = await putVersion(ctx, callerOf(call), secret, versionId, value, stages);
      return { name: secret.name, krn, versionId: outcome.versionId, versionStages: [...outcome.stages] };
    } finally {
      value.bytes.fill(0);
    }
  };
}
