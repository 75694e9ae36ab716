// Decrypt: AES-256-GCM in the token; a wrong tag, IV or AAD is INVALID_CIPHERTEXT.
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { invalidArgument } from "@keyhold/server-kit";
import { GCM_IV_BYTES, GCM_TAG_BYTES } from "../domain/hsm.ts";
import { budgetOf, bytesField, keyIdField, MAX_AAD_BYTES, MAX_DATA_BYTES } from "./fields.ts";

type M = (typeof HsmService)["method"]["decrypt"];

export function decrypt(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async (request, call) => {
    const keyId = keyIdField("key_id", request.keyId);
    if (request.iv.byteLength !== GCM_IV_BYTES) throw invalidArgument("iv", `must be ${GCM_IV_BYTES} bytes`);
    const ciphertext = bytesField("ciphertext", request.ciphertext, { max: MAX_DATA_BYTES + GCM_TAG_BYTES });
    if (ciphertext.byteLength <= GCM_TAG_BYTES) throw invalidArgument("ciphertext", `must hold at least one byte and the ${GCM_TAG_BYTES}-byte tag`);
    const aad = bytesField("aad", request.aad, { max: MAX_AAD_BYTES });
    return { plaintext: await ctx.hsm.decrypt(keyId, request.iv, ciphertext, aad, budgetOf(ctx, call)) };
  };
}
