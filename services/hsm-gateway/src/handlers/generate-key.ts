// GenerateKey: a key made inside the token (sensitive, never extractable), found again by its key id.
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { KeyholdError, invalidArgument as bad } from "@keyhold/server-kit";
import { usageFits } from "../domain/key-specs.ts";
import { budgetOf, keyIdField, keySpecField, keyUsageField, toApiSpec } from "./fields.ts";

type M = (typeof HsmService)["method"]["generateKey"];

export function generateKey(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async (request, call) => {
    const keyId = keyIdField("key_id", request.keyId);
    const spec = keySpecField(request.keySpec);
    const usage = keyUsageField(request.keyUsage);
    if (!usageFits(spec, usage)) throw bad("key_usage", spec === "AES_256" ? "an AES key is ENCRYPT_DECRYPT or WRAP_UNWRAP" : "an RSA or EC key is SIGN_VERIFY");
    const { publicKey } = await ctx.hsm.generateKey(keyId, spec, usage, budgetOf(ctx, call));
    if (publicKey === undefined && spec !== "AES_256") throw new KeyholdError("INTERNAL", "no public key");
    return { keyId, keySpec: toApiSpec(spec), keyUsage: request.keyUsage, publicKey: publicKey ?? new Uint8Array(0) };
  };
}
