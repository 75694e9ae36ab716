import type { ReEncryptRequestSchema, ReEncryptResponseSchema } from "@keyhold/proto";
import { recordAuditDetails } from "@keyhold/audit-client";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { invalidCiphertext } from "../domain/ciphertext.ts";
import { authorizedKey, expectedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { openWithVersion, sealUnderKey, versionOfCiphertext } from "../domain/symmetric-operations.ts";
import { encryptionContext } from "./crypto-fields.ts";

/** Needs kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the destination (as AWS KMS). */
export function reEncrypt(ctx: AppContext): UnaryHandler<typeof ReEncryptRequestSchema, typeof ReEncryptResponseSchema> {
  return async (request, call) => {
    const sourceContext = encryptionContext(request.sourceEncryptionContext, "source_encryption_context");
    const destinationContext = encryptionContext(request.destinationEncryptionContext, "destination_encryption_context");
    const expected = await expectedKey(ctx, call, request.sourceKeyId, "source_key_id", "kms:ReEncryptFrom", { encryptionContext: sourceContext });
    const version = await versionOfCiphertext(ctx, request.ciphertextBlob, "ciphertext_blob");
    const sourceKrn = keyKrn(ctx.config.region, version.accountId, version.keyId);
    // The event names the source key and version (whose material the call unlocks) and context.
    recordAuditDetails(call, { resource: sourceKrn, keyVersionId: version.versionId, encryptionContext: sourceContext });
    await ctx.access.require(call, "kms:ReEncryptFrom", sourceKrn, { encryptionContext: sourceContext, notFound: invalidCiphertext });
    const destination = await authorizedKey(ctx, call, request.destinationKeyId, "destination_key_id", "kms:ReEncryptTo", {
      encryptionContext: destinationContext,
      auditResource: false,
    });
    const opened = await openWithVersion(ctx, version, request.ciphertextBlob, sourceContext, expected, "source_key_id", call);
    try {
      const sealed = await sealUnderKey(ctx, destination, opened.plaintext, destinationContext, "destination_key_id", call);
      return {
        ciphertextBlob: sealed.blob,
        sourceKeyId: sourceKrn,
        sourceKeyVersionId: version.versionId,
        keyId: keyKrn(ctx.config.region, destination.accountId, destination.keyId),
        keyVersionId: sealed.version.versionId,
      };
    } finally {
      opened.plaintext.fill(0);
    }
  };
}
