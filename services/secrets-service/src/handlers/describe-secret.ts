import type { DescribeSecretRequestSchema, DescribeSecretResponseSchema, SecretMetadata } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { secretNotFound } from "../domain/names.ts";
import { authorizedSecret } from "../domain/secret-access.ts";
import { secretMetadata } from "./views.ts";

export function describeSecret(ctx: AppContext): UnaryHandler<typeof DescribeSecretRequestSchema, typeof DescribeSecretResponseSchema> {
  return async (request, call) => {
    const { secret } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:DescribeSecret", { allowPendingDeletion: true });
    return { metadata: await describe(ctx, secret.secretId) };
  };
}

/** A secret's metadata as stored now. */
export async function describe(ctx: AppContext, secretId: string): Promise<SecretMetadata> {
  const secret = await ctx.store.getSecretById(secretId);
  if (secret === undefined) throw secretNotFound("secret_id");
  return secretMetadata(secret, ctx.config.region, await ctx.store.listTags(secretId), await ctx.store.labels(secretId), await ctx.store.getDefaultKey(secret.accountId));
}
