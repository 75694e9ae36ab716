import { EncryptionAlgorithm, type EncryptRequestSchema, type EncryptResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { resolveKey } from "../domain/key-resolver.ts";
import { keyKrn } from "../domain/names.ts";
import { sealUnderKey, validatePlaintext } from "../domain/symmetric-operations.ts";
import { encryptionContext, symmetricAlgorithm } from "./crypto-fields.ts";

export function encrypt(ctx: AppContext): UnaryHandler<typeof EncryptRequestSchema, typeof EncryptResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    symmetricAlgorithm(request.encryptionAlgorithm);
    validatePlaintext(request.plaintext, "plaintext");
    const context = encryptionContext(request.encryptionContext, "encryption_context");
    const key = resolveKey(ctx.store, ctx.config.region, accountId, request.keyId, "key_id");
    const sealed = await sealUnderKey(ctx, key, request.plaintext, context, "key_id");
    return {
      ciphertextBlob: sealed.blob,
      keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
      keyVersionId: sealed.version.versionId,
      encryptionAlgorithm: EncryptionAlgorithm.SYMMETRIC_DEFAULT,
    };
  };
}
