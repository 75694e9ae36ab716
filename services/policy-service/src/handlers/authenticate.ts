// Authenticate (internal: Keyhold services only): the principal a bearer credential stands
// for — or, with no credential, the principal a verified client certificate's SANs map to — and
// how long the caller may cache the answer (change events flush it sooner; a role session's
// answer never outlives the session). Every refusal is UNAUTHENTICATED "invalid credential".
import type { AuthenticateRequest, AuthenticateRequestSchema, AuthenticateResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { invalidCredential, type AuthenticatedCredential } from "../domain/authority.ts";
import { requireKeyholdService } from "./common.ts";
import { PRINCIPAL_TYPE_OF_KIND } from "./views.ts";

/** The credential decides when there is one; the certificate's names only when there is not. */
async function authenticated(ctx: AppContext, request: AuthenticateRequest): Promise<AuthenticatedCredential> {
  if (request.credential !== "") return ctx.authority.authenticateCredential(request.credential);
  if (request.certificateUris.length === 0 && request.certificateDnsNames.length === 0) throw invalidCredential();
  return { principal: await ctx.authority.certificatePrincipal({ uris: request.certificateUris, dnsNames: request.certificateDnsNames }), expiresAt: undefined };
}

export function authenticate(ctx: AppContext): UnaryHandler<typeof AuthenticateRequestSchema, typeof AuthenticateResponseSchema> {
  return async (request, call) => {
    requireKeyholdService(call);
    const { principal, expiresAt } = await authenticated(ctx, request);
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
