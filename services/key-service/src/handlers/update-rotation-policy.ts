import type { UpdateRotationPolicyRequestSchema, UpdateRotationPolicyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { assertNotPendingDeletion } from "../domain/key-lifecycle.ts";
import { keyNotFound } from "../domain/key-resolver.ts";
import { assertRotatable, DAY_MS, requestedRotationPeriod } from "../domain/rotation.ts";
import { rotationPolicyView } from "./views.ts";

/**
 * Turns automatic rotation on or off. Turning it on, or changing the period, schedules the
 * next rotation one period from now; repeating the same policy changes nothing.
 */
export function updateRotationPolicy(ctx: AppContext): UnaryHandler<typeof UpdateRotationPolicyRequestSchema, typeof UpdateRotationPolicyResponseSchema> {
  return async (request, call) => {
    const period = requestedRotationPeriod(request.enabled, request.rotationPeriodInDays, "rotation_period_in_days");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:UpdateRotationPolicy");
    assertRotatable(key, "key_id");
    const next = period === 0 ? null : new Date(ctx.clock.now().getTime() + period * DAY_MS);
    const updated = await ctx.store.updateKey(key.accountId, key.keyId, (current) => {
      assertNotPendingDeletion(current, "key_id");
      return period === current.rotationPeriodDays ? undefined : { rotationPeriodDays: period, nextRotationAt: next };
    });
    if (updated === undefined) throw keyNotFound("key_id");
    return { rotationPolicy: rotationPolicyView(updated, ctx.config.region) };
  };
}
