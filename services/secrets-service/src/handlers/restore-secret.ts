import type { RestoreSecretRequestSchema, RestoreSecretResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedSecret } from "../domain/secret-access.ts";

export function restoreSecret(ctx: AppContext): UnaryHandler<typeof RestoreSecretRequestSchema, typeof RestoreSecretResponseSchema> {
  return async (request, call) => {
    const { secret, krn } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:RestoreSecret", { allowPendingDeletion: true });
    if (secret.deletionDate !== undefined) await ctx.store.updateSecret(secret.secretId, { deletionDate: undefined, updatedAt: ctx.clock.now() });
    return { name: secret.name, krn };
  };
}
