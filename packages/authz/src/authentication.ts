// The first step of every call: establish the caller. A bearer credential (API key or role
// session) from outside; the forwarded end caller (or the service itself) when a trusted
// Keyhold service calls.
import { KeyholdError, type CallInterceptor } from "@keyhold/server-kit";
import type { PolicyAuthority } from "./authority.ts";
import { FORWARDED_CALLER_HEADER, parseForwardedCaller, servicePrincipal } from "./forwarded-caller.ts";

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/;

export function unauthenticated(message = "invalid credential"): KeyholdError {
  return new KeyholdError("UNAUTHENTICATED", message);
}

export function authenticationInterceptor(authority: PolicyAuthority): CallInterceptor {
  return (next) => async (request, call) => {
    if (call.callingService !== undefined) {
      const forwarded = call.header(FORWARDED_CALLER_HEADER);
      if (forwarded === undefined) {
        call.principal = servicePrincipal(call.callingService);
      } else {
        const principal = parseForwardedCaller(forwarded);
        if (principal === undefined) throw unauthenticated("malformed forwarded caller");
        call.principal = principal;
      }
      return next(request, call);
    }
    const header = call.header("authorization");
    if (header === undefined || header === "") throw unauthenticated("missing credential: send 'authorization: Bearer <api key>'");
    const match = BEARER.exec(header);
    if (match === null) throw unauthenticated();
    call.principal = await authority.authenticate(match[1]!);
    return next(request, call);
  };
}
