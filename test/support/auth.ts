// Bearer credentials as the tests send them: `authorization: Bearer <credential>` on every
// public call (gRPC metadata, or an HTTP header for Connect and gRPC-Web).
import { randomBytes } from "node:crypto";
import type { Interceptor } from "@connectrpc/connect";

/** The header every public call carries. */
export const AUTHORIZATION = "authorization";

/**
 * A fresh API key shaped exactly as Keyhold generates them (`khk_<16 hex>_<43 base64url>`), for
 * KEYHOLD_BOOTSTRAP_API_KEY or as a well-formed key that no account has.
 */
export function generateApiKey(): string {
  return `khk_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
}

/** A well-formed role session token that no session has. */
export function generateSessionToken(): string {
  return `khs_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
}

export function bearer(credential: string): string {
  return `Bearer ${credential}`;
}

/** A Connect interceptor that sets the authorization header to `value` exactly (tests send bad ones too). */
export function authorizationHeader(value: string): Interceptor {
  return (next) => (request) => {
    request.header.set(AUTHORIZATION, value);
    return next(request);
  };
}

/** A Connect interceptor that authenticates every call with `credential`. */
export function withCredential(credential: string): Interceptor {
  return authorizationHeader(bearer(credential));
}
