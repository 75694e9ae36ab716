// UnwrapKey: what WrapKey made, back as material (root-key use) or imported as a token key (BYOK).
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { budgetOf, bytesField, keyIdField } from "./fields.ts";

type M = (typeof HsmService)["method"]["unwrapKey"];

export function unwrapKey(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async (request, call) => {
    const wrappingKeyId = keyIdField("wrapping_key_id", request.wrappingKeyId);
    const wrapped = bytesField("wrapped_key", request.wrappedKey, { min: 24, max: 1024 + 16 });
    if (request.importKeyId !== "") {
      const keyId = keyIdField("import_key_id", request.importKeyId);
      await ctx.hsm.importKey(wrappingKeyId, wrapped, keyId, budgetOf(ctx, call));
      return { keyId };
    }
    return { keyMaterial: await ctx.hsm.unwrapKey(wrappingKeyId, wrapped, budgetOf(ctx, call)) };
  };
}
