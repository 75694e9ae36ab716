// RevokeGrant (internal, for the end caller's RevokeGrant): kms:RevokeGrant on the key krn for
// the forwarded END caller. Effective at once: the change event flushes every decision cache.
import type { RevokeKeyGrantRequestSchema, RevokeKeyGrantResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireKeyKrn } from "../domain/names.ts";
import { grantNotFound, keyNotFound, requireKeyholdService } from "./common.ts";
import { requireGrantId } from "./grant-fields.ts";

export function revokeKeyGrant(ctx: AppContext): UnaryHandler<typeof RevokeKeyGrantRequestSchema, typeof RevokeKeyGrantResponseSchema> {
  return async (request, call) => {
    requireKeyholdService(call);
    const key = requireKeyKrn(request.keyId, "key_id");
    const grantId = requireGrantId(request.grantId, "grant_id");
    await ctx.access.require(call, "kms:RevokeGrant", key.krn, { notFound: () => keyNotFound("key_id") });
    const grant = await ctx.store.getGrant(grantId);
    if (grant === undefined || grant.keyKrn !== key.krn || !(await ctx.store.deleteGrant(grantId))) throw grantNotFound("grant_id");
    return {};
  };
}
