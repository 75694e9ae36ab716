import { recordAuditDetails } from "@keyhold/audit-client";
import type { GetKeyVersionRequestSchema, GetKeyVersionResponseSchema } from "@keyhold/proto";
import { invalidArgument, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { assertVersionsListable } from "../domain/rotation.ts";
import { isUuid } from "../domain/names.ts";
import { keyVersionView } from "./views.ts";

export function getKeyVersion(ctx: AppContext): UnaryHandler<typeof GetKeyVersionRequestSchema, typeof GetKeyVersionResponseSchema> {
  return async (request, call) => {
    if (request.keyVersionId === "") throw invalidArgument("key_version_id", "is required");
    if (!isUuid(request.keyVersionId)) throw invalidArgument("key_version_id", "must be a key version id (UUID)");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GetKeyVersion");
    assertVersionsListable(key, "key_id");
    const version = await ctx.store.getVersion(request.keyVersionId);
    if (version === undefined || version.keyId !== key.keyId || version.accountId !== key.accountId) {
      throw new KeyholdError("KEY_VERSION_NOT_FOUND", "key_version_id: the key has no such version", { field: "key_version_id" });
    }
    recordAuditDetails(call, { keyVersionId: version.versionId });
    return { keyVersion: keyVersionView(version, key, ctx.config.region) };
  };
}
