// The one place where a call's caller is established: an IdentityResolver, run as the first
// interceptor. policy-service replaces the development resolver with real authentication.
import type { CallContext, Principal } from "./call.ts";
import type { CallInterceptor } from "./pipeline.ts";

export interface IdentityResolver {
  /** The caller, or throws KeyholdError("UNAUTHENTICATED"). */
  resolve(call: CallContext): Principal | Promise<Principal>;
}

/** Every call runs as the given principal (development mode, until policy-service). */
export function fixedIdentity(principal: Principal): IdentityResolver {
  return { resolve: () => principal };
}

export function identityInterceptor(resolver: IdentityResolver): CallInterceptor {
  return (next) => async (request, call) => {
    call.principal = await resolver.resolve(call);
    return next(request, call);
  };
}

/** The principal a handler may rely on (identityInterceptor ran). */
export function callerOf(call: CallContext): Principal {
  if (call.principal === undefined) throw new Error("no principal: identityInterceptor is not installed");
  return call.principal;
}
