import { recordAuditDetails } from "@keyhold/audit-client";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { GetParametersForImportRequestSchema, GetParametersForImportResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { publicKeyPem } from "../domain/asymmetric-operations.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { assertExternal, IMPORT_PARAMETERS_TTL_MS, IMPORT_TOKEN_BYTES, importTokenId, wrappingAlgorithm, wrappingKeyAad, wrappingKeyBits } from "../domain/key-import.ts";
import { assertNotPendingDeletion } from "../domain/key-lifecycle.ts";
import { keyKrn } from "../domain/names.ts";

export function getParametersForImport(ctx: AppContext): UnaryHandler<typeof GetParametersForImportRequestSchema, typeof GetParametersForImportResponseSchema> {
  return async (request, call) => {
    const algorithm = wrappingAlgorithm(request.wrappingAlgorithm, "wrapping_algorithm");
    const bits = wrappingKeyBits(request.wrappingKeySpec, "wrapping_key_spec");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GetParametersForImport");
    assertExternal(key, "key_id");
    assertNotPendingDeletion(key, "key_id");
    recordAuditDetails(call, { keyVersionId: key.primaryVersionId });
    const pair = await ctx.privateKeys.generateKeyPair({ type: "rsa", bits });
    const token = ctx.random(IMPORT_TOKEN_BYTES);
    const tokenId = importTokenId(token);
    const now = ctx.clock.now();
    const expiresAt = new Date(now.getTime() + IMPORT_PARAMETERS_TTL_MS);
    try {
      await ctx.store.putImportToken({
        tokenId,
        accountId: key.accountId,
        keyId: key.keyId,
        wrappingAlgorithm: algorithm,
        wrappingKeySpec: bits,
        wrappedPrivateKey: await ctx.rootKey.wrap(pair.privateKey, wrappingKeyAad(key.accountId, key.keyId, tokenId)),
        createdAt: now,
        expiresAt,
      });
    } finally {
      pair.privateKey.fill(0);
    }
    return {
      keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
      importToken: token,
      publicKey: pair.publicKey,
      publicKeyPem: publicKeyPem(pair.publicKey),
      parametersValidTo: timestampFromDate(expiresAt),
    };
  };
}
