// Seal: zeroes the in-memory root key and every cached unwrapped key version; everything that
// needs them answers FAILED_PRECONDITION SEALED until unsealed again.
import type { SealServiceSealRequestSchema, SealServiceSealResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireSealAccess, sealStatusView } from "./seal-access.ts";

export function seal(ctx: AppContext): UnaryHandler<typeof SealServiceSealRequestSchema, typeof SealServiceSealResponseSchema> {
  return async (_request, call) => {
    await requireSealAccess(ctx, call, "kms:Seal");
    return { status: sealStatusView(ctx.seal.seal()) };
  };
}
