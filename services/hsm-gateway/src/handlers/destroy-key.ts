// DestroyKey: every token object of the key id (both halves of a key pair).
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { budgetOf, keyIdField } from "./fields.ts";

type M = (typeof HsmService)["method"]["destroyKey"];

export function destroyKey(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async (request, call) => {
    const keyId = keyIdField("key_id", request.keyId);
    return { destroyedObjects: await ctx.hsm.destroyKey(keyId, budgetOf(ctx, call)) };
  };
}
