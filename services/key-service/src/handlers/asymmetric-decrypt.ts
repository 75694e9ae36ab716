import { recordAuditDetails } from "@keyhold/audit-client";
import type { AsymmetricDecryptRequestSchema, AsymmetricDecryptResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { invalidCiphertext } from "../domain/ciphertext.ts";
import { oaepHashFor } from "../domain/asymmetric-operations.ts";
import { asymmetricVersion } from "../domain/asymmetric-keys.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { specInfo } from "../domain/key-specs.ts";
import { keyKrn } from "../domain/names.ts";

/** RSA-OAEP decryption in the PrivateKeyPool; any ciphertext that does not open is the one INVALID_CIPHERTEXT. */
export function asymmetricDecrypt(ctx: AppContext): UnaryHandler<typeof AsymmetricDecryptRequestSchema, typeof AsymmetricDecryptResponseSchema> {
  return async (request, call) => {
    if (request.ciphertextBlob.byteLength === 0) throw invalidArgument("ciphertext_blob", "must not be empty");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:Decrypt");
    const version = await asymmetricVersion(ctx, key, ctx.clock.now());
    const hash = oaepHashFor(key, request.encryptionAlgorithm, "encryption_algorithm");
    recordAuditDetails(call, { keyVersionId: version.versionId });
    if (request.ciphertextBlob.byteLength !== specInfo(key.keySpec).rsaBits! / 8) throw invalidCiphertext();
    const plaintext = await ctx.materials
      .withMaterial(version, (privateKey) => ctx.privateKeys.decrypt(privateKey, hash, request.ciphertextBlob))
      .catch(() => {
        throw invalidCiphertext();
      });
    return { plaintext, keyId: keyKrn(ctx.config.region, key.accountId, key.keyId), keyVersionId: version.versionId, encryptionAlgorithm: request.encryptionAlgorithm };
  };
}
