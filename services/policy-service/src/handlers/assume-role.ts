// AssumeRole: sts:AssumeRole on the role krn. The role's trust policy must allow the caller
// (also within the account); a caller from another account also needs its own identity
// policies to allow it (LocalPolicyAuthority applies both rules). A role of another account
// that the caller may not assume is ACCESS_DENIED, like one that does not exist.
// The session token `khs_<id>_<secret>` is returned once; the store keeps its digest.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AssumeRoleRequestSchema, AssumeRoleResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { formatToken, newSecret, secretDigest } from "../domain/credentials.ts";
import { requireRoleKrn } from "../domain/names.ts";
import type { RoleSessionRecord } from "../store/records.ts";
import { principalNotFound } from "./common.ts";

const SESSION_NAME = /^[A-Za-z0-9=,.@_-]{2,64}$/;
export const DEFAULT_SESSION_SECONDS = 3600;
export const MIN_SESSION_SECONDS = 900;
export const MAX_SESSION_SECONDS = 43_200;
/** A role session assuming another role (role chaining) gets at most an hour, as in AWS. */
export const MAX_CHAINED_SESSION_SECONDS = 3600;

export function assumeRole(ctx: AppContext): UnaryHandler<typeof AssumeRoleRequestSchema, typeof AssumeRoleResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const role = requireRoleKrn(request.roleKrn, "role_krn");
    if (!SESSION_NAME.test(request.roleSessionName)) {
      throw invalidArgument("role_session_name", "must be 2-64 characters of letters, digits and = , . @ _ -");
    }
    const seconds = request.durationSeconds === 0 ? DEFAULT_SESSION_SECONDS : request.durationSeconds;
    if (seconds < MIN_SESSION_SECONDS || seconds > MAX_SESSION_SECONDS) {
      throw invalidArgument("duration_seconds", `must be between ${MIN_SESSION_SECONDS} and ${MAX_SESSION_SECONDS}`);
    }
    if (caller.kind === "role" && seconds > MAX_CHAINED_SESSION_SECONDS) {
      throw invalidArgument("duration_seconds", `must be at most ${MAX_CHAINED_SESSION_SECONDS} when a role session assumes a role`);
    }
    await ctx.access.require(call, "sts:AssumeRole", role.krn);
    const now = ctx.clock.now();
    const expiresAt = new Date(now.getTime() + seconds * 1000);
    const secret = newSecret(ctx.random);
    const session = await ctx.store.transaction(async (tx): Promise<RoleSessionRecord> => {
      if ((await tx.getPrincipal(role.krn))?.type !== "role") throw principalNotFound("role_krn");
      for (let attempt = 0; attempt < 8; attempt++) {
        const record: RoleSessionRecord = {
          sessionId: ctx.ids.sessionId(),
          roleKrn: role.krn,
          accountId: role.accountId,
          sessionName: request.roleSessionName,
          sourcePrincipal: caller.krn,
          secretHash: secretDigest(secret),
          createdAt: now,
          expiresAt,
        };
        if ((await tx.createRoleSession(record, now)) === "ok") return record;
      }
      throw new KeyholdError("INTERNAL", "could not allocate a session id");
    });
    return {
      sessionToken: formatToken("session", session.sessionId, secret),
      expiration: timestampFromDate(expiresAt),
      assumedRoleKrn: role.krn,
    };
  };
}
