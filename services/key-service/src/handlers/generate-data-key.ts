import type { GenerateDataKeyRequestSchema, GenerateDataKeyResponseSchema } from "@keyhold/proto";
import { recordAuditDetails } from "@keyhold/audit-client";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { dataKeyLength } from "../domain/data-key.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { sealUnderKey } from "../domain/symmetric-operations.ts";
import { encryptionContext } from "./crypto-fields.ts";

export function generateDataKey(ctx: AppContext): UnaryHandler<typeof GenerateDataKeyRequestSchema, typeof GenerateDataKeyResponseSchema> {
  return async (request, call) => {
    const length = dataKeyLength(request.keySpec, request.numberOfBytes);
    const context = encryptionContext(request.encryptionContext, "encryption_context");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GenerateDataKey", { encryptionContext: context });
    const dataKey = ctx.random(length);
    const sealed = await sealUnderKey(ctx, key, dataKey, context, "key_id", call);
    recordAuditDetails(call, { keyVersionId: sealed.version.versionId });
    return {
      ciphertextBlob: sealed.blob,
      plaintext: dataKey,
      keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
      keyVersionId: sealed.version.versionId,
    };
  };
}
