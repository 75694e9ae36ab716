import { recordAuditDetails } from "@keyhold/audit-client";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ExpirationModel, KeyState, WrappingAlgorithm, type ImportKeyMaterialRequest, type ImportKeyMaterialRequestSchema, type ImportKeyMaterialResponseSchema } from "@keyhold/proto";
import { invalidArgument, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import {
  aesKeyUnwrapPad,
  assertExternal,
  checkMaterialLength,
  importTokenId,
  invalidImportToken,
  materialCommitment,
  MAX_VALID_TO_MS,
  sameCommitment,
  splitKeyWrap,
  undecryptableMaterial,
  wrappingKeyAad,
} from "../domain/key-import.ts";
import { assertNotPendingDeletion } from "../domain/key-lifecycle.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { keyMetadata } from "./views.ts";

const MAX_ENCRYPTED_MATERIAL_BYTES = 4096;

/** When the material expires: undefined when it does not. */
function validTo(request: ImportKeyMaterialRequest, now: Date): Date | undefined {
  const model = request.expirationModel;
  if (model !== ExpirationModel.UNSPECIFIED && model !== ExpirationModel.KEY_MATERIAL_EXPIRES && model !== ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE) {
    throw invalidArgument("expiration_model", "must be KEY_MATERIAL_EXPIRES or KEY_MATERIAL_DOES_NOT_EXPIRE");
  }
  if (model === ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE) {
    if (request.validTo !== undefined) throw invalidArgument("valid_to", "must be unset when the key material does not expire");
    return undefined;
  }
  if (request.validTo === undefined) {
    if (model === ExpirationModel.KEY_MATERIAL_EXPIRES) throw invalidArgument("valid_to", "is required when the key material expires");
    return undefined;
  }
  const at = timestampDate(request.validTo);
  if (!Number.isFinite(at.getTime()) || at.getTime() <= now.getTime()) throw invalidArgument("valid_to", "must be in the future");
  if (at.getTime() > now.getTime() + MAX_VALID_TO_MS) throw invalidArgument("valid_to", "must be at most 365 days from now");
  return at;
}

export function importKeyMaterial(ctx: AppContext): UnaryHandler<typeof ImportKeyMaterialRequestSchema, typeof ImportKeyMaterialResponseSchema> {
  return async (request, call) => {
    const now = ctx.clock.now();
    if (request.importToken.byteLength === 0) throw invalidArgument("import_token", "is required");
    if (request.importToken.byteLength > 1024) throw invalidArgument("import_token", "is too long");
    if (request.encryptedKeyMaterial.byteLength === 0) throw invalidArgument("encrypted_key_material", "is required");
    if (request.encryptedKeyMaterial.byteLength > MAX_ENCRYPTED_MATERIAL_BYTES) throw invalidArgument("encrypted_key_material", `must be at most ${MAX_ENCRYPTED_MATERIAL_BYTES} bytes`);
    const expiresAt = validTo(request, now);
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:ImportKeyMaterial");
    assertExternal(key, "key_id");
    assertNotPendingDeletion(key, "key_id");
    recordAuditDetails(call, { keyVersionId: key.primaryVersionId });
    const tokenId = importTokenId(request.importToken);
    const token = await ctx.store.getImportToken(tokenId);
    if (token === undefined || token.accountId !== key.accountId || token.keyId !== key.keyId || token.expiresAt.getTime() <= now.getTime()) throw invalidImportToken();

    const wrappingKey = await ctx.rootKey.unwrap(token.wrappedPrivateKey, wrappingKeyAad(key.accountId, key.keyId, tokenId));
    let material: Buffer;
    try {
      const modulusBytes = token.wrappingKeySpec / 8;
      if (token.wrappingAlgorithm === WrappingAlgorithm.RSAES_OAEP_SHA_256) {
        if (request.encryptedKeyMaterial.byteLength !== modulusBytes) throw undecryptableMaterial();
        material = await ctx.privateKeys.decrypt(wrappingKey, "sha256", request.encryptedKeyMaterial).catch(() => {
          throw undecryptableMaterial();
        });
      } else {
        const { rsaPart, wrapped } = splitKeyWrap(request.encryptedKeyMaterial, modulusBytes);
        const aesKey = await ctx.privateKeys.decrypt(wrappingKey, "sha256", rsaPart).catch(() => {
          throw undecryptableMaterial();
        });
        try {
          material = aesKeyUnwrapPad(aesKey, wrapped);
        } finally {
          aesKey.fill(0);
        }
      }
    } finally {
      wrappingKey.fill(0);
    }

    try {
      checkMaterialLength(key.keySpec, material);
      const commitment = materialCommitment(key.keyId, material);
      const refuseOther = (digest: Buffer | undefined) => {
        if (digest !== undefined && !sameCommitment(digest, commitment)) {
          throw new KeyholdError("INCORRECT_KEY_MATERIAL", "encrypted_key_material: this key takes only the key material first imported into it", {
            field: "encrypted_key_material",
          });
        }
      };
      refuseOther(key.importedMaterialDigest);
      const wrapped = await ctx.materials.adopt(key.accountId, key.keyId, key.primaryVersionId, material);
      // The material, the commitment and the state in one write, checked against the key as it is
      // then: of two concurrent first imports of different material, only one commits.
      const updated = await ctx.store
        .updateKey(key.accountId, key.keyId, (current) => {
          assertNotPendingDeletion(current, "key_id");
          refuseOther(current.importedMaterialDigest);
          return {
            ...(current.state === KeyState.PENDING_IMPORT ? { state: KeyState.ENABLED } : {}),
            materialExpiresAt: expiresAt ?? null,
            importedMaterialDigest: commitment,
            primaryVersionMaterial: wrapped,
          };
        })
        .catch((error: unknown) => {
          ctx.materials.forget(key.primaryVersionId);
          throw error;
        });
      if (updated === undefined) throw keyNotFound("key_id");
      return { keyMetadata: keyMetadata(updated, ctx.config.region) };
    } finally {
      material.fill(0);
    }
  };
}
