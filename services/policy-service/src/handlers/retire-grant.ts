// RetireGrant (internal, for the end caller's RetireGrant). Two ways to name the grant:
// - grant_token: holding the token is the permission (it was handed to whoever should retire
//   the grant); compared as a SHA-256 digest in constant time. key_id, when given, must match.
// - key_id + grant_id: the forwarded END caller must be the grantee, the retiring principal, or
//   a principal of the key's account allowed kms:RetireGrant on the key (the account root is).
//   A caller of another account who is neither answers GRANT_NOT_FOUND, as for a missing grant.
import { accessDenied } from "@keyhold/authz";
import type { RetireKeyGrantRequestSchema, RetireKeyGrantResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { DUMMY_DIGEST, digestsEqual, parseToken, secretDigest } from "../domain/credentials.ts";
import { requireKeyKrn } from "../domain/names.ts";
import { grantNotFound, requireKeyholdService } from "./common.ts";
import { requireGrantId } from "./grant-fields.ts";

export function retireKeyGrant(ctx: AppContext): UnaryHandler<typeof RetireKeyGrantRequestSchema, typeof RetireKeyGrantResponseSchema> {
  return async (request, call) => {
    requireKeyholdService(call);
    const caller = callerOf(call);
    if (request.grantToken !== "") {
      const token = parseToken(request.grantToken);
      if (token === undefined || token.kind !== "grant") throw invalidArgument("grant_token", "is not a grant token (khg_<grant id>_<secret>)");
      if (request.grantId !== "" && request.grantId !== token.id) throw invalidArgument("grant_id", "does not name the grant of grant_token");
      const key = request.keyId === "" ? undefined : requireKeyKrn(request.keyId, "key_id");
      const grant = await ctx.store.getGrant(token.id);
      const matches = digestsEqual(grant?.tokenHash ?? DUMMY_DIGEST, secretDigest(token.secret));
      if (!matches || grant === undefined || (key !== undefined && grant.keyKrn !== key.krn)) throw grantNotFound("grant_token");
      if (!(await ctx.store.deleteGrant(grant.grantId))) throw grantNotFound("grant_token");
      return {};
    }
    if (request.keyId === "" && request.grantId === "") throw invalidArgument("grant_token", "is required (or key_id and grant_id)");
    const key = requireKeyKrn(request.keyId, "key_id");
    const grantId = requireGrantId(request.grantId, "grant_id");
    const sameAccount = caller.accountId === key.accountId;
    const allowedByPolicy = sameAccount && (await ctx.access.decide(call, "kms:RetireGrant", key.krn)).allowed;
    const grant = await ctx.store.getGrant(grantId);
    const onKey = grant !== undefined && grant.keyKrn === key.krn;
    if (!allowedByPolicy) {
      const named = onKey && (grant.granteePrincipal === caller.krn || grant.retiringPrincipal === caller.krn);
      if (!named) {
        if (sameAccount) throw accessDenied("kms:RetireGrant", key.krn);
        throw grantNotFound("grant_id");
      }
    }
    if (!onKey || !(await ctx.store.deleteGrant(grantId))) throw grantNotFound("grant_id");
    return {};
  };
}
