import { EncryptionAlgorithm, type EncryptRequestSchema, type EncryptResponseSchema } from "@keyhold/proto";
import { recordAuditDetails } from "@keyhold/audit-client";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { sealUnderKey, validatePlaintext } from "../domain/symmetric-operations.ts";
import { encryptionContext, symmetricAlgorithm } from "./crypto-fields.ts";

export function encrypt(ctx: AppContext): UnaryHandler<typeof EncryptRequestSchema, typeof EncryptResponseSchema> {
  return async (request, call) => {
    symmetricAlgorithm(request.encryptionAlgorithm);
    validatePlaintext(request.plaintext, "plaintext");
    const context = encryptionContext(request.encryptionContext, "encryption_context");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:Encrypt", { encryptionContext: context });
    const sealed = await sealUnderKey(ctx, key, request.plaintext, context, "key_id", call);
    recordAuditDetails(call, { keyVersionId: sealed.version.versionId });
    return {
      ciphertextBlob: sealed.blob,
      keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
      keyVersionId: sealed.version.versionId,
      encryptionAlgorithm: EncryptionAlgorithm.SYMMETRIC_DEFAULT,
    };
  };
}
