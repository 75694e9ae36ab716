import { recordAuditDetails } from "@keyhold/audit-client";
import { Origin, type GetPublicKeyRequestSchema, type GetPublicKeyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { asymmetricEncryptionAlgorithmsOf, publicKeyOf, publicKeyPem, signingAlgorithmsOf } from "../domain/asymmetric-operations.ts";
import { asymmetricVersion } from "../domain/asymmetric-keys.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";

export function getPublicKey(ctx: AppContext): UnaryHandler<typeof GetPublicKeyRequestSchema, typeof GetPublicKeyResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GetPublicKey");
    const version = await asymmetricVersion(ctx, key, ctx.clock.now());
    recordAuditDetails(call, { keyVersionId: version.versionId });
    // A key with origin HSM: read from the token, where the key pair lives.
    const spki = key.origin === Origin.HSM ? await ctx.hsmKeys.publicKey(version.versionId) : publicKeyOf(version);
    return {
      keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
      keyVersionId: version.versionId,
      publicKey: spki,
      publicKeyPem: publicKeyPem(spki),
      keySpec: key.keySpec,
      keyUsage: key.keyUsage,
      signingAlgorithms: [...signingAlgorithmsOf(key.keySpec, key.keyUsage)],
      encryptionAlgorithms: [...asymmetricEncryptionAlgorithmsOf(key.keySpec, key.keyUsage)],
    };
  };
}
