import { recordAuditDetails } from "@keyhold/audit-client";
import { KeyVersionSource, type RotateKeyRequestSchema, type RotateKeyResponseSchema } from "@keyhold/proto";
import { KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { assertEnabled } from "../domain/key-resolver.ts";
import { assertRotatable, rotate } from "../domain/rotation.ts";
import { keyMetadata, keyVersionView } from "./views.ts";

/** On-demand rotation: a new primary version now; the automatic schedule is unchanged. */
export function rotateKey(ctx: AppContext): UnaryHandler<typeof RotateKeyRequestSchema, typeof RotateKeyResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:RotateKey");
    assertRotatable(key, "key_id");
    assertEnabled(key, "key_id");
    const rotated = await rotate(ctx, key, KeyVersionSource.ON_DEMAND_ROTATION, ctx.clock.now());
    if (rotated === undefined) throw new KeyholdError("INTERNAL", "the key disappeared while rotating");
    recordAuditDetails(call, { keyVersionId: rotated.version.versionId });
    return {
      keyMetadata: keyMetadata(rotated.key, ctx.config.region),
      keyVersion: keyVersionView(rotated.version, rotated.key, ctx.config.region),
    };
  };
}
