// UpdateApiKeyStatus: iam:UpdateApiKeyStatus on the key owner's krn. Disabling takes effect at
// once (a change event flushes every cache). The resource is known only once the key is found,
// so an id that names no key of the caller's account is API_KEY_NOT_FOUND (ids are 64 random
// bits: that reveals nothing); a key of another account answers the same.
import { ApiKeyStatus, type UpdateApiKeyStatusRequestSchema, type UpdateApiKeyStatusResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireApiKeyId } from "./api-key-fields.ts";
import { apiKeyNotFound } from "./common.ts";
import { apiKeyView } from "./views.ts";

export function updateApiKeyStatus(ctx: AppContext): UnaryHandler<typeof UpdateApiKeyStatusRequestSchema, typeof UpdateApiKeyStatusResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const apiKeyId = requireApiKeyId(request.apiKeyId, "api_key_id");
    let status: "active" | "disabled";
    if (request.status === ApiKeyStatus.ACTIVE) status = "active";
    else if (request.status === ApiKeyStatus.DISABLED) status = "disabled";
    else throw invalidArgument("status", "must be API_KEY_STATUS_ACTIVE or API_KEY_STATUS_DISABLED");
    const existing = await ctx.store.getApiKey(apiKeyId);
    if (existing === undefined || existing.accountId !== caller.accountId) throw apiKeyNotFound("api_key_id");
    await ctx.access.require(call, "iam:UpdateApiKeyStatus", existing.principalKrn, { notFound: () => apiKeyNotFound("api_key_id") });
    const updated = await ctx.store.updateApiKeyStatus(apiKeyId, status);
    if (updated === undefined) throw apiKeyNotFound("api_key_id");
    return { apiKey: apiKeyView(updated) };
  };
}
