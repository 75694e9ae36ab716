import { recordAuditDetails } from "@keyhold/audit-client";
import type { ListKeysRequestSchema, ListKeysResponseSchema } from "@keyhold/proto";
import { callerOf, decodePageToken, encodePageToken, pageSize, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { accountKeysKrn } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";

export function listKeys(ctx: AppContext): UnaryHandler<typeof ListKeysRequestSchema, typeof ListKeysResponseSchema> {
  return async (request, call) => {
    const accountId = callerOf(call).accountId;
    recordAuditDetails(call, { resource: accountKeysKrn(ctx.config.region, accountId) });
    await ctx.access.require(call, "kms:ListKeys", accountKeysKrn(ctx.config.region, accountId));
    const limit = pageSize(request.pageSize);
    const after = decodePageToken("keys", request.pageToken);
    const page = await ctx.store.listKeys(accountId, after, limit);
    return {
      keys: page.items.map((key) => ({ keyId: key.keyId, krn: keyKrn(ctx.config.region, key.accountId, key.keyId) })),
      nextPageToken: encodePageToken("keys", page.next),
    };
  };
}
