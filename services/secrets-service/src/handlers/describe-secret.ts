import type { DescribeSecretRequestSchema, DescribeSecretResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedSecret } from "../domain/secret-access.ts";
import { secretMetadata } from "./views.ts";

export function describeSecret(ctx: AppContext): UnaryHandler<typeof DescribeSecretRequestSchema, typeof DescribeSecretResponseSchema> {
  return async (request, call) => {
    const { secret } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:DescribeSecret", { allowPendingDeletion: true });
    return { metadata: describe(ctx, secret.secretId) };
  };
}

/** A secret's metadata as stored now. */
export function describe(ctx: AppContext, secretId: string) {
  const secret = ctx.store.getSecretById(secretId);
  if (secret === undefined) throw new Error("secret vanished");
  return secretMetadata(secret, ctx.config.region, ctx.store.listTags(secretId), ctx.store.labels(secretId), ctx.store.getDefaultKey(secret.accountId));
}
