import { recordAuditDetails } from "@keyhold/audit-client";
import type { GenerateDataKeyPairWithoutPlaintextRequestSchema, GenerateDataKeyPairWithoutPlaintextResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { dataKeyPairSpec, makeDataKeyPair } from "../domain/data-key-pair.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { encryptionContext } from "./crypto-fields.ts";

export function generateDataKeyPairWithoutPlaintext(
  ctx: AppContext,
): UnaryHandler<typeof GenerateDataKeyPairWithoutPlaintextRequestSchema, typeof GenerateDataKeyPairWithoutPlaintextResponseSchema> {
  return async (request, call) => {
    const spec = dataKeyPairSpec(request.keyPairSpec, "key_pair_spec");
    const context = encryptionContext(request.encryptionContext, "encryption_context");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GenerateDataKeyPairWithoutPlaintext", { encryptionContext: context });
    const pair = await makeDataKeyPair(ctx, key, spec, context, call);
    pair.privateKey.fill(0);
    recordAuditDetails(call, { keyVersionId: pair.sealed.version.versionId });
    return {
      privateKeyCiphertextBlob: pair.sealed.blob,
      publicKey: pair.publicKey,
      keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
      keyVersionId: pair.sealed.version.versionId,
      keyPairSpec: request.keyPairSpec,
    };
  };
}
