import { EncryptionAlgorithm, type DecryptRequestSchema, type DecryptResponseSchema } from "@keyhold/proto";
import { recordAuditDetails } from "@keyhold/audit-client";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { invalidCiphertext } from "../domain/ciphertext.ts";
import { expectedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { openWithVersion, versionOfCiphertext } from "../domain/symmetric-operations.ts";
import { encryptionContext, symmetricAlgorithm } from "./crypto-fields.ts";

export function decrypt(ctx: AppContext): UnaryHandler<typeof DecryptRequestSchema, typeof DecryptResponseSchema> {
  return async (request, call) => {
    symmetricAlgorithm(request.encryptionAlgorithm);
    const context = encryptionContext(request.encryptionContext, "encryption_context");
    const expected = await expectedKey(ctx, call, request.keyId, "key_id", "kms:Decrypt", { encryptionContext: context });
    const version = await versionOfCiphertext(ctx, request.ciphertextBlob, "ciphertext_blob");
    const krn = keyKrn(ctx.config.region, version.accountId, version.keyId);
    // The event names the key and version the ciphertext was sealed under.
    recordAuditDetails(call, { resource: krn, keyVersionId: version.versionId, encryptionContext: context });
    // Another account's ciphertext the caller may not decrypt looks like any invalid one.
    await ctx.access.require(call, "kms:Decrypt", krn, { encryptionContext: context, notFound: invalidCiphertext });
    const opened = await openWithVersion(ctx, version, request.ciphertextBlob, context, expected, "key_id", call);
    return { plaintext: opened.plaintext, keyId: krn, keyVersionId: version.versionId, encryptionAlgorithm: EncryptionAlgorithm.SYMMETRIC_DEFAULT };
  };
}
