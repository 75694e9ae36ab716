import type { CreateGrantRequestSchema, CreateGrantResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import { asCaller, onBehalf } from "./policy-calls.ts";

export function createGrant(ctx: AppContext): UnaryHandler<typeof CreateGrantRequestSchema, typeof CreateGrantResponseSchema> {
  return async (request, call) => {
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:CreateGrant");
    const created = await onBehalf(
      ctx.policy.createKeyGrant(
        {
          keyId: keyKrn(ctx.config.region, key.accountId, key.keyId),
          granteePrincipal: request.granteePrincipal,
          retiringPrincipal: request.retiringPrincipal,
          operations: request.operations,
          ...(request.constraints === undefined ? {} : { constraints: request.constraints }),
          name: request.name,
        },
        asCaller(call),
      ),
    );
    return { grantId: created.grantId, grantToken: created.grantToken };
  };
}
