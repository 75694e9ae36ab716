// Verify: with the public key in the token; a wrong signature is valid = false, not an error.
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { budgetOf, bytesField, keyIdField, MAX_DATA_BYTES, messageTypeField, signingAlgorithmField } from "./fields.ts";

type M = (typeof HsmService)["method"]["verify"];

export function verify(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async (request, call) => {
    const keyId = keyIdField("key_id", request.keyId);
    const algorithm = signingAlgorithmField(request.signingAlgorithm);
    const isDigest = messageTypeField(request.messageType);
    const message = bytesField("message", request.message, { max: MAX_DATA_BYTES });
    const signature = bytesField("signature", request.signature, { min: 1, max: 1024 });
    return { valid: await ctx.hsm.verify(keyId, algorithm, message, isDigest, signature, budgetOf(ctx, call)) };
  };
}
