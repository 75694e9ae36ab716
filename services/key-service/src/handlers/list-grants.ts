import type { ListGrantsRequestSchema, ListGrantsResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { asCaller, onBehalf } from "./policy-calls.ts";

export function listGrants(ctx: AppContext): UnaryHandler<typeof ListGrantsRequestSchema, typeof ListGrantsResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:ListGrants");
    const listed = await onBehalf(
      ctx.policy.listKeyGrants(
        {
          keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
          grantId: request.grantId,
          granteePrincipal: request.granteePrincipal,
          pageSize: request.pageSize,
          pageToken: request.pageToken,
        },
        asCaller(call),
      ),
    );
    return { grants: listed.grants, nextPageToken: listed.nextPageToken };
  };
}
