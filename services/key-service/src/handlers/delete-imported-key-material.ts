import { recordAuditDetails } from "@keyhold/audit-client";
import { KeyState, type DeleteImportedKeyMaterialRequestSchema, type DeleteImportedKeyMaterialResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { assertExternal } from "../domain/key-import.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { keyMetadata } from "./views.ts";

/** The material is destroyed at once; a key pending deletion stays pending deletion. */
export function deleteImportedKeyMaterial(ctx: AppContext): UnaryHandler<typeof DeleteImportedKeyMaterialRequestSchema, typeof DeleteImportedKeyMaterialResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:DeleteImportedKeyMaterial");
    assertExternal(key, "key_id");
    recordAuditDetails(call, { keyVersionId: key.primaryVersionId });
    const updated = await ctx.store.updateKey(key.accountId, key.keyId, (current) => ({
      ...(current.state === KeyState.PENDING_DELETION ? {} : { state: KeyState.PENDING_IMPORT }),
      materialExpiresAt: null,
      primaryVersionMaterial: Buffer.alloc(0),
    }));
    ctx.materials.forget(key.primaryVersionId);
    if (updated === undefined) throw keyNotFound("key_id");
    return { keyMetadata: keyMetadata(updated, ctx.config.region) };
  };
}
