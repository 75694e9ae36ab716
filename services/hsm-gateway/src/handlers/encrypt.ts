// Encrypt: AES-256-GCM in the token, fresh 96-bit IV, 128-bit tag appended to the ciphertext.
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { budgetOf, bytesField, keyIdField, MAX_AAD_BYTES, MAX_DATA_BYTES } from "./fields.ts";

type M = (typeof HsmService)["method"]["encrypt"];

export function encrypt(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async (request, call) => {
    const keyId = keyIdField("key_id", request.keyId);
    const plaintext = bytesField("plaintext", request.plaintext, { min: 1, max: MAX_DATA_BYTES });
    const aad = bytesField("aad", request.aad, { max: MAX_AAD_BYTES });
    return await ctx.hsm.encrypt(keyId, plaintext, aad, budgetOf(ctx, call));
  };
}
