import type { SealServiceGetSealStatusRequestSchema, SealServiceGetSealStatusResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireSealAccess, sealStatusView } from "./seal-access.ts";

export function getSealStatus(ctx: AppContext): UnaryHandler<typeof SealServiceGetSealStatusRequestSchema, typeof SealServiceGetSealStatusResponseSchema> {
  return async (_request, call) => {
    await requireSealAccess(ctx, call, "kms:GetSealStatus");
    return { status: sealStatusView(ctx.seal.status()) };
  };
}
