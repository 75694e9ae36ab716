import type { PutKeyPolicyRequestSchema, PutKeyPolicyResponseSchema } from "@keyhold/proto";
import { fromPeerError, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { asCaller } from "./policy-calls.ts";

export function putKeyPolicy(ctx: AppContext): UnaryHandler<typeof PutKeyPolicyRequestSchema, typeof PutKeyPolicyResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:PutKeyPolicy");
    try {
      await ctx.policy.putResourcePolicy({ resource: keyKrn(ctx.config.region, key.accountId, key.keyId), document: request.policy }, asCaller(call));
    } catch (error) {
      const translated = fromPeerError(error, "policy-service");
      // policy-service names the document "document..."; in this API the field is "policy".
      if (translated.field?.startsWith("document") === true) {
        throw new KeyholdError(translated.reason, translated.message.replace(/^document/, "policy"), {
          field: "policy" + translated.field.slice("document".length),
        });
      }
      throw translated;
    }
    return {};
  };
}
