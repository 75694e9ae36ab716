// Authenticate (internal: Keyhold services only): the principal a bearer credential stands
// for, and how long the caller may cache the answer (change events flush it sooner; a role
// session's answer never outlives the session). Every refusal is UNAUTHENTICATED
// "invalid credential".
import type { AuthenticateRequestSchema, AuthenticateResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { invalidCredential } from "../domain/authority.ts";
import { requireKeyholdService } from "./common.ts";
import { PRINCIPAL_TYPE_OF_KIND } from "./views.ts";

export function authenticate(ctx: AppContext): UnaryHandler<typeof AuthenticateRequestSchema, typeof AuthenticateResponseSchema> {
  return async (request, call) => {
    requireKeyholdService(call);
    if (request.credential === "") throw invalidCredential();
    const { principal, expiresAt } = ctx.authority.authenticateCredential(request.credential);
    let cacheSeconds = ctx.config.credentialCacheSeconds;
    if (expiresAt !== undefined) {
      cacheSeconds = Math.max(0, Math.min(cacheSeconds, Math.floor((expiresAt.getTime() - ctx.clock.now().getTime()) / 1000)));
    }
    return {
      principal: {
        krn: principal.krn,
        accountId: principal.accountId,
        type: PRINCIPAL_TYPE_OF_KIND[principal.kind],
        sessionName: principal.sessionName ?? "",
        cacheSeconds,
      },
    };
  };
}
