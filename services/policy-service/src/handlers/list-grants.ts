// ListGrants (internal, for the end caller's ListGrants): kms:ListGrants on the key krn for the
// forwarded END caller; optionally one grant, or the grants of one grantee. Paged by grant id.
import type { ListKeyGrantsRequestSchema, ListKeyGrantsResponseSchema } from "@keyhold/proto";
import { decodePageToken, encodePageToken, pageSize } from "@keyhold/server-kit";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireKeyKrn, requirePrincipalKrn } from "../domain/names.ts";
import type { GrantFilter } from "../store/policy-store.ts";
import { keyNotFound, requireKeyholdService } from "./common.ts";
import { requireGrantId } from "./grant-fields.ts";
import { grantView } from "./views.ts";

export function listKeyGrants(ctx: AppContext): UnaryHandler<typeof ListKeyGrantsRequestSchema, typeof ListKeyGrantsResponseSchema> {
  return async (request, call) => {
    requireKeyholdService(call);
    const key = requireKeyKrn(request.keyId, "key_id");
    const filter: GrantFilter = {
      ...(request.grantId === "" ? {} : { grantId: requireGrantId(request.grantId, "grant_id") }),
      ...(request.granteePrincipal === "" ? {} : { granteePrincipal: requirePrincipalKrn(request.granteePrincipal, "grantee_principal").krn }),
    };
    const limit = pageSize(request.pageSize);
    const list = `grants:${key.krn}:${filter.grantId ?? ""}:${filter.granteePrincipal ?? ""}`;
    const after = decodePageToken(list, request.pageToken);
    await ctx.access.require(call, "kms:ListGrants", key.krn, { notFound: () => keyNotFound("key_id") });
    const page = await ctx.store.listGrants(key.krn, filter, after, limit);
    return { grants: page.items.map(grantView), nextPageToken: encodePageToken(list, page.next) };
  };
}
