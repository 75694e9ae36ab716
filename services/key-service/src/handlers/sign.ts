import { recordAuditDetails } from "@keyhold/audit-client";
import { Origin, type SignRequestSchema, type SignResponseSchema } from "@keyhold/proto";
import { KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { signInput } from "../domain/asymmetric-operations.ts";
import { asymmetricVersion } from "../domain/asymmetric-keys.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";

/**
 * The private-key work runs in the PrivateKeyPool (the event loop keeps serving meanwhile), or,
 * for a key with origin HSM, in the token through hsm-gateway.
 */
export function sign(ctx: AppContext): UnaryHandler<typeof SignRequestSchema, typeof SignResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:Sign");
    const version = await asymmetricVersion(ctx, key, ctx.clock.now());
    const input = signInput(key, request.signingAlgorithm, request.messageType, request.message);
    recordAuditDetails(call, { keyVersionId: version.versionId });
    const signature =
      key.origin === Origin.HSM
        ? await ctx.hsmKeys.sign(version.versionId, request.signingAlgorithm, request.message, input.digest)
        : await ctx.materials.withMaterial(version, (privateKey) => ctx.privateKeys.sign(privateKey, input.scheme, request.message, input.digest)).catch((error: unknown) => {
            throw new KeyholdError("INTERNAL", "signing failed", { cause: error });
          });
    return { keyId: keyKrn(ctx.config.region, key.accountId, key.keyId), keyVersionId: version.versionId, signature, signingAlgorithm: request.signingAlgorithm };
  };
}
