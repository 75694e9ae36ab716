import type { GenerateDataKeyWithoutPlaintextRequestSchema, GenerateDataKeyWithoutPlaintextResponseSchema } from "@keyhold/proto";
import { recordAuditDetails } from "@keyhold/audit-client";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { dataKeyLength } from "../domain/data-key.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { sealUnderKey } from "../domain/symmetric-operations.ts";
import { encryptionContext } from "./crypto-fields.ts";

export function generateDataKeyWithoutPlaintext(
  ctx: AppContext,
): UnaryHandler<typeof GenerateDataKeyWithoutPlaintextRequestSchema, typeof GenerateDataKeyWithoutPlaintextResponseSchema> {
  return async (request, call) => {
    const length = dataKeyLength(request.keySpec, request.numberOfBytes);
    const context = encryptionContext(request.encryptionContext, "encryption_context");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GenerateDataKeyWithoutPlaintext", { encryptionContext: context });
    const dataKey = ctx.random(length);
    try {
      const sealed = await sealUnderKey(ctx, key, dataKey, context, "key_id", call);
      recordAuditDetails(call, { keyVersionId: sealed.version.versionId });
      return { ciphertextBlob: sealed.blob, keyId: keyKrn(ctx.config.region, key.accountId, key.keyId), keyVersionId: sealed.version.versionId };
    } finally {
      dataKey.fill(0);
    }
  };
}
