// DeleteApiKey: iam:DeleteApiKey on the key owner's krn; effective at once. As in
// UpdateApiKeyStatus, an id naming no key of the caller's account is API_KEY_NOT_FOUND.
import type { DeleteApiKeyRequestSchema, DeleteApiKeyResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireApiKeyId } from "./api-key-fields.ts";
import { apiKeyNotFound } from "./common.ts";

export function deleteApiKey(ctx: AppContext): UnaryHandler<typeof DeleteApiKeyRequestSchema, typeof DeleteApiKeyResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const apiKeyId = requireApiKeyId(request.apiKeyId, "api_key_id");
    const existing = await ctx.store.getApiKey(apiKeyId);
    if (existing === undefined || existing.accountId !== caller.accountId) throw apiKeyNotFound("api_key_id");
    await ctx.access.require(call, "iam:DeleteApiKey", existing.principalKrn, { notFound: () => apiKeyNotFound("api_key_id") });
    if (!(await ctx.store.deleteApiKey(apiKeyId))) throw apiKeyNotFound("api_key_id");
    return {};
  };
}
