// Unseal: one share towards unsealing the root key, or reset. The share is never logged,
// audited or echoed.
import type { SealServiceUnsealRequestSchema, SealServiceUnsealResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireSealAccess, sealStatusView } from "./seal-access.ts";

const MAX_SHARE_CHARS = 2048;
const SHARE_FORM = /^\s*khs1-[A-Za-z0-9_-]+\s*$/;

export function unseal(ctx: AppContext): UnaryHandler<typeof SealServiceUnsealRequestSchema, typeof SealServiceUnsealResponseSchema> {
  return async (request, call) => {
    await requireSealAccess(ctx, call, "kms:Unseal");
    if (request.reset) {
      if (request.share !== "") throw invalidArgument("share", "must be empty when reset is set");
      return { status: sealStatusView(ctx.seal.resetProgress()) };
    }
    if (request.share === "") throw invalidArgument("share", "is required");
    if (request.share.length > MAX_SHARE_CHARS) throw invalidArgument("share", `must be at most ${MAX_SHARE_CHARS} characters`);
    if (!SHARE_FORM.test(request.share)) throw invalidArgument("share", 'must be a share as "keyhold seal init" printed it ("khs1-...")');
    return { status: sealStatusView(ctx.seal.submitShare(request.share)) };
  };
}
