import { SecretType, type UpdateSecretRotationPolicyRequestSchema, type UpdateSecretRotationPolicyResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { validateHandlerUrl } from "../domain/rotation/remote-handler.ts";
import { authorizedSecret } from "../domain/secret-access.ts";
import { describe } from "./describe-secret.ts";

/** Alibaba's limits: 6 hours to 8760 hours (365 days). */
export const MIN_ROTATION_INTERVAL_SECONDS = 6 * 3600;
export const MAX_ROTATION_INTERVAL_SECONDS = 365 * 86_400;

export function updateSecretRotationPolicy(
  ctx: AppContext,
): UnaryHandler<typeof UpdateSecretRotationPolicyRequestSchema, typeof UpdateSecretRotationPolicyResponseSchema> {
  return async (request, call) => {
    const { secret } = await authorizedSecret(ctx, call, request.secretId, "secret_id", "secrets:UpdateSecretRotationPolicy");
    const interval = Number(request.rotationIntervalSeconds);
    if (request.rotationEnabled || interval !== 0) {
      if (interval < MIN_ROTATION_INTERVAL_SECONDS || interval > MAX_ROTATION_INTERVAL_SECONDS) {
        throw invalidArgument("rotation_interval_seconds", `must be between ${MIN_ROTATION_INTERVAL_SECONDS} (6 hours) and ${MAX_ROTATION_INTERVAL_SECONDS} (365 days)`);
      }
    }
    let handlerUrl = secret.rotationHandlerUrl;
    if (request.rotationHandlerUrl !== "") {
      if (secret.secretType !== SecretType.GENERIC) throw invalidArgument("rotation_handler_url", "only generic secrets use a rotation handler; managed types rotate themselves");
      handlerUrl = validateHandlerUrl(request.rotationHandlerUrl, "rotation_handler_url");
    }
    if (request.rotationEnabled && secret.secretType === SecretType.GENERIC && handlerUrl === "") {
      throw invalidArgument("rotation_handler_url", "is required to rotate a generic secret");
    }
    const now = ctx.clock.now();
    // Decided from the secret as stored when written (a rotation finishing meanwhile moves lastRotatedAt).
    await ctx.store.updateSecret(secret.secretId, (current) => {
      const base = current.lastRotatedAt ?? now;
      return {
        rotationEnabled: request.rotationEnabled,
        rotationIntervalSeconds: request.rotationEnabled || interval !== 0 ? interval : current.rotationIntervalSeconds,
        rotationHandlerUrl: handlerUrl,
        nextRotationAt: request.rotationEnabled ? new Date(Math.max(base.getTime() + interval * 1000, now.getTime())) : undefined,
        updatedAt: now,
      };
    });
    return { metadata: await describe(ctx, secret.secretId) };
  };
}
