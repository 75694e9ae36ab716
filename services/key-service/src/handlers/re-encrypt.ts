import type { ReEncryptRequestSchema, ReEncryptResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { resolveKey } from "../domain/key-resolver.ts";
import { keyKrn } from "../domain/names.ts";
import { openForAccount, sealUnderKey } from "../domain/symmetric-operations.ts";
import { encryptionContext } from "./crypto-fields.ts";

export function reEncrypt(ctx: AppContext): UnaryHandler<typeof ReEncryptRequestSchema, typeof ReEncryptResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    const sourceContext = encryptionContext(request.sourceEncryptionContext, "source_encryption_context");
    const destinationContext = encryptionContext(request.destinationEncryptionContext, "destination_encryption_context");
    const expected = request.sourceKeyId === "" ? undefined : resolveKey(ctx.store, ctx.config.region, accountId, request.sourceKeyId, "source_key_id").keyId;
    const destination = resolveKey(ctx.store, ctx.config.region, accountId, request.destinationKeyId, "destination_key_id");
    const opened = await openForAccount(ctx, accountId, request.ciphertextBlob, sourceContext, expected, "ciphertext_blob", "source_key_id");
    try {
      const sealed = await sealUnderKey(ctx, destination, opened.plaintext, destinationContext, "destination_key_id");
      return {
        ciphertextBlob: sealed.blob,
        sourceKeyId: keyKrn(ctx.config.region, opened.key.accountId, opened.key.keyId),
        sourceKeyVersionId: opened.version.versionId,
        keyId: keyKrn(ctx.config.region, destination.accountId, destination.keyId),
        keyVersionId: sealed.version.versionId,
      };
    } finally {
      opened.plaintext.fill(0);
    }
  };
}
