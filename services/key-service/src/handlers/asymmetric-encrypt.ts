import { recordAuditDetails } from "@keyhold/audit-client";
import type { AsymmetricEncryptRequestSchema, AsymmetricEncryptResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { oaepEncrypt, oaepMaxPlaintext } from "../domain/asymmetric-engine.ts";
import { oaepHashFor, publicKeyOf } from "../domain/asymmetric-operations.ts";
import { asymmetricVersion } from "../domain/asymmetric-keys.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { specInfo } from "../domain/key-specs.ts";
import { keyKrn } from "../domain/names.ts";

export function asymmetricEncrypt(ctx: AppContext): UnaryHandler<typeof AsymmetricEncryptRequestSchema, typeof AsymmetricEncryptResponseSchema> {
  return async (request, call) => {
    if (request.plaintext.byteLength === 0) throw invalidArgument("plaintext", "must not be empty");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:Encrypt");
    const version = await asymmetricVersion(ctx, key, ctx.clock.now());
    const hash = oaepHashFor(key, request.encryptionAlgorithm, "encryption_algorithm");
    const max = oaepMaxPlaintext(specInfo(key.keySpec).rsaBits!, hash);
    if (request.plaintext.byteLength > max) throw invalidArgument("plaintext", `must be at most ${max} bytes for this key and algorithm`);
    recordAuditDetails(call, { keyVersionId: version.versionId });
    return {
      ciphertextBlob: oaepEncrypt(publicKeyOf(version), hash, request.plaintext),
      keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
      keyVersionId: version.versionId,
      encryptionAlgorithm: request.encryptionAlgorithm,
    };
  };
}
