import { recordAuditDetails } from "@keyhold/audit-client";
import type { ListExternalKeyStoresRequestSchema, ListExternalKeyStoresResponseSchema } from "@keyhold/proto";
import { callerOf, decodePageToken, encodePageToken, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { accountExternalKeyStoresKrn } from "./external-key-store-access.ts";
import { externalKeyStoreView } from "./views.ts";

export function listExternalKeyStores(ctx: AppContext): UnaryHandler<typeof ListExternalKeyStoresRequestSchema, typeof ListExternalKeyStoresResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    const krn = accountExternalKeyStoresKrn(ctx.config.region, accountId);
    recordAuditDetails(call, { resource: krn });
    await ctx.access.require(call, "kms:ListExternalKeyStores", krn);
    const limit = pageSize(request.pageSize);
    const after = decodePageToken("external-key-stores", request.pageToken);
    const page = await ctx.store.listExternalKeyStores(accountId, after, limit);
    return {
      externalKeyStores: page.items.map((store) => externalKeyStoreView(store, ctx.config.region)),
      nextPageToken: encodePageToken("external-key-stores", page.next),
    };
  };
}
