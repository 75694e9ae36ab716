// Sign: RSA (PSS or PKCS#1 v1.5) or ECDSA with the private key in the token.
import type { HsmService } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { budgetOf, bytesField, keyIdField, MAX_DATA_BYTES, messageTypeField, signingAlgorithmField } from "./fields.ts";

type M = (typeof HsmService)["method"]["sign"];

export function sign(ctx: AppContext): UnaryHandler<M["input"], M["output"]> {
  return async (request, call) => {
    const keyId = keyIdField("key_id", request.keyId);
    const algorithm = signingAlgorithmField(request.signingAlgorithm);
    const isDigest = messageTypeField(request.messageType);
    const message = bytesField("message", request.message, { max: MAX_DATA_BYTES });
    return { signature: await ctx.hsm.sign(keyId, algorithm, message, isDigest, budgetOf(ctx, call)) };
  };
}
