import { EncryptionAlgorithm, type DecryptRequestSchema, type DecryptResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { resolveKey } from "../domain/key-resolver.ts";
import { keyKrn } from "../domain/names.ts";
import { openForAccount } from "../domain/symmetric-operations.ts";
import { encryptionContext, symmetricAlgorithm } from "./crypto-fields.ts";

export function decrypt(ctx: AppContext): UnaryHandler<typeof DecryptRequestSchema, typeof DecryptResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    symmetricAlgorithm(request.encryptionAlgorithm);
    const context = encryptionContext(request.encryptionContext, "encryption_context");
    const expected = request.keyId === "" ? undefined : resolveKey(ctx.store, ctx.config.region, accountId, request.keyId, "key_id").keyId;
    const opened = await openForAccount(ctx, accountId, request.ciphertextBlob, context, expected, "ciphertext_blob", "key_id");
    return {
      plaintext: opened.plaintext,
      keyId: keyKrn(ctx.config.region, opened.key.accountId, opened.key.keyId),
      keyVersionId: opened.version.versionId,
      encryptionAlgorithm: EncryptionAlgorithm.SYMMETRIC_DEFAULT,
    };
  };
}
