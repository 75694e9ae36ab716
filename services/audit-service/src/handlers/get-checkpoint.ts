// GetCheckpoint: the latest signed checkpoint and the public key to check it with; `fresh`
// signs one of the current log first (when it grew). audit:GetCheckpoint on the caller's
// account's log. A checkpoint covers the whole log (every account): it reveals its size only.
import type { GetCheckpointRequestSchema, GetCheckpointResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { checkpointToProto } from "../domain/checkpoint.ts";
import { authorizeRead } from "./access.ts";

export function getCheckpoint(ctx: AppContext): UnaryHandler<typeof GetCheckpointRequestSchema, typeof GetCheckpointResponseSchema> {
  return async (request, call) => {
    await authorizeRead(ctx, call, "audit:GetCheckpoint");
    const latest = await ctx.log.latestCheckpoint();
    const checkpoint = request.fresh || latest === undefined ? await ctx.log.checkpoint() : latest;
    return { checkpoint: checkpointToProto(checkpoint), publicKeyPem: ctx.signer.publicKeyPem };
  };
}
