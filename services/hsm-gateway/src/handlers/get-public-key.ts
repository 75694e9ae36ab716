// GetPublicKey: the DER SubjectPublicKeyInfo of an RSA or EC key pair in the token.
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { budgetOf, keyIdField, toApiSpec } from "./fields.ts";

type M = (typeof HsmService)["method"]["getPublicKey"];

export function getPublicKey(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async (request, call) => {
    const keyId = keyIdField("key_id", request.keyId);
    const { spec, publicKey } = await ctx.hsm.getPublicKey(keyId, budgetOf(ctx, call));
    return { keySpec: toApiSpec(spec), publicKey };
  };
}
