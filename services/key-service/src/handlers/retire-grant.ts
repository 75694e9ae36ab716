import type { RetireGrantRequestSchema, RetireGrantResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { keyKrn, parseKeyRef } from "../domain/names.ts";
import { asCaller, onBehalf } from "./policy-calls.ts";

/**
 * Who may retire a grant depends on the grant (its token holder, grantee or retiring
 * principal, or the key's account), which only policy-service knows: it decides, for the
 * forwarded end caller.
 */
export function retireGrant(ctx: AppContext): UnaryHandler<typeof RetireGrantRequestSchema, typeof RetireGrantResponseSchema> {
  return async (request, call) => {
    let keyId = "";
    if (request.keyId !== "") {
      const ref = parseKeyRef(request.keyId, "key_id", false);
      if (ref.kind !== "key") throw invalidArgument("key_id", "must be a key id or key krn");
      if (ref.region !== undefined && ref.region !== ctx.config.region) throw keyNotFound("key_id");
      keyId = keyKrn(ctx.config.region, ref.accountId ?? call.principal?.accountId ?? "", ref.keyId);
    }
    if (request.grantToken === "" && (keyId === "" || request.grantId === "")) {
      throw invalidArgument("grant_token", "give the grant token, or key_id and grant_id");
    }
    ctx.access.delegate(call);
    await onBehalf(ctx.policy.retireKeyGrant({ grantToken: request.grantToken, keyId, grantId: request.grantId }, asCaller(call)));
    return {};
  };
}
