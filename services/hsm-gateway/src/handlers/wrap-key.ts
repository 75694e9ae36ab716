// WrapKey: key material wrapped (AES-KWP, RFC 5649) under a WRAP_UNWRAP key in the token.
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { invalidArgument } from "@keyhold/server-kit";
import { budgetOf, bytesField, keyIdField } from "./fields.ts";

type M = (typeof HsmService)["method"]["wrapKey"];

export function wrapKey(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async (request, call) => {
    const wrappingKeyId = keyIdField("wrapping_key_id", request.wrappingKeyId);
    const material = bytesField("key_material", request.keyMaterial, { min: 16, max: 1024 });
    // SoftHSMv2 does not strip RFC 5649 padding on unwrap: only whole 8-byte blocks round-trip.
    if (material.byteLength % 8 !== 0) throw invalidArgument("key_material", "must be a multiple of 8 bytes");
    try {
      return { wrappedKey: await ctx.hsm.wrapKey(wrappingKeyId, material, budgetOf(ctx, call)) };
    } finally {
      request.keyMaterial.fill(0);
    }
  };
}
