// The admin API's authentication: every call carries "authorization: Bearer <token>" with the
// configured admin token, compared in constant time (SHA-256 of both, timingSafeEqual). Anything
// else is UNAUTHENTICATED before any input is looked at.
import { createHash, timingSafeEqual } from "node:crypto";
import { KeyholdError, type CallInterceptor } from "@keyhold/server-kit";
import type { AdminToken } from "../config.ts";

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();

export function adminTokenOnly(token: AdminToken): CallInterceptor {
  const expected = digest(token.reveal());
  return (next) => async (request, call) => {
    const header = call.header("authorization") ?? "";
    const match = /^Bearer (.+)$/.exec(header);
    if (match === null || !timingSafeEqual(digest(match[1]!), expected)) {
      throw new KeyholdError("UNAUTHENTICATED", "the admin API needs the admin token (authorization: Bearer <token>)");
    }
    return next(request, call);
  };
}
