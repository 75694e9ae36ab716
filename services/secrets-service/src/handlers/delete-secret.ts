import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { DeleteSecretRequestSchema, DeleteSecretResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { secretNotFound } from "../domain/names.ts";
import { authorizedSecret } from "../domain/secret-access.ts";

export const DEFAULT_RECOVERY_WINDOW_DAYS = 30;
export const MIN_RECOVERY_WINDOW_DAYS = 7;
export const MAX_RECOVERY_WINDOW_DAYS = 30;
const DAY_MS = 86_400_000;

export function deleteSecret(ctx: AppContext): UnaryHandler<typeof DeleteSecretRequestSchema, typeof DeleteSecretResponseSchema> {
  return async (request, call) => {
    const { secret, krn } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:DeleteSecret", { allowPendingDeletion: true });
    const days = request.recoveryWindowInDays;
    if (request.forceDeleteWithoutRecovery && days !== 0) {
      throw invalidArgument("recovery_window_in_days", "cannot be combined with force_delete_without_recovery");
    }
    const now = ctx.clock.now();
    if (request.forceDeleteWithoutRecovery) {
      await ctx.store.purgeSecret(secret.secretId);
      return { name: secret.name, krn, deletionDate: timestampFromDate(now) };
    }
    if (days !== 0 && (days < MIN_RECOVERY_WINDOW_DAYS || days > MAX_RECOVERY_WINDOW_DAYS)) {
      throw invalidArgument("recovery_window_in_days", `must be between ${MIN_RECOVERY_WINDOW_DAYS} and ${MAX_RECOVERY_WINDOW_DAYS}`);
    }
    // Deleting a secret already scheduled for deletion answers its existing date (as AWS).
    const deletionDate = new Date(now.getTime() + (days === 0 ? DEFAULT_RECOVERY_WINDOW_DAYS : days) * DAY_MS);
    const after = await ctx.store.updateSecret(secret.secretId, (current) => (current.deletionDate === undefined ? { deletionDate, updatedAt: now } : {}));
    if (after?.deletionDate === undefined) throw secretNotFound("secret_id");
    return { name: secret.name, krn, deletionDate: timestampFromDate(after.deletionDate) };
  };
}
