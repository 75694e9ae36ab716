// GetCallerIdentity: who the caller is. Like AWS STS GetCallerIdentity it needs no permission
// (no policy can deny a caller knowing itself): authenticated, never authorized.
import type { GetCallerIdentityRequestSchema, GetCallerIdentityResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { PRINCIPAL_TYPE_OF_KIND } from "./views.ts";

export function getCallerIdentity(_ctx: AppContext): UnaryHandler<typeof GetCallerIdentityRequestSchema, typeof GetCallerIdentityResponseSchema> {
  return async (_request, call) => {
    const caller = callerOf(call);
    return {
      principalKrn: caller.krn,
      accountId: caller.accountId,
      type: PRINCIPAL_TYPE_OF_KIND[caller.kind],
      sessionName: caller.sessionName ?? "",
    };
  };
}
