import { recordAuditDetails } from "@keyhold/audit-client";
import type { GenerateDataKeyPairRequestSchema, GenerateDataKeyPairResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { dataKeyPairSpec, makeDataKeyPair } from "../domain/data-key-pair.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { encryptionContext } from "./crypto-fields.ts";

export function generateDataKeyPair(ctx: AppContext): UnaryHandler<typeof GenerateDataKeyPairRequestSchema, typeof GenerateDataKeyPairResponseSchema> {
  return async (request, call) => {
    const spec = dataKeyPairSpec(request.keyPairSpec, "key_pair_spec");
    const context = encryptionContext(request.encryptionContext, "encryption_context");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GenerateDataKeyPair", { encryptionContext: context });
    const pair = await makeDataKeyPair(ctx, key, spec, context, call);
    recordAuditDetails(call, { keyVersionId: pair.sealed.version.versionId });
    return {
      privateKeyCiphertextBlob: pair.sealed.blob,
      privateKeyPlaintext: pair.privateKey,
      publicKey: pair.publicKey,
      keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
      keyVersionId: pair.sealed.version.versionId,
      keyPairSpec: request.keyPairSpec,
    };
  };
}
