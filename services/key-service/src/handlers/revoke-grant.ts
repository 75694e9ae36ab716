import type { RevokeGrantRequestSchema, RevokeGrantResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { asCaller, onBehalf } from "./policy-calls.ts";

export function revokeGrant(ctx: AppContext): UnaryHandler<typeof RevokeGrantRequestSchema, typeof RevokeGrantResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:RevokeGrant");
    await onBehalf(ctx.policy.revokeKeyGrant({ keyId: keyKrn(ctx.config.region, key.accountId, key.keyId), grantId: request.grantId }, asCaller(call)));
    return {};
  };
}
