// CreateKey: an AES-256 key generated inside the HSM (sensitive, not extractable).
import type { XkiAdminService } from "@keyhold/proto";
import type { ServiceHandlers } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { ADMIN_DEADLINE_MS, externalKeyIdField, keyMessage } from "./fields.ts";

export function createKey(ctx: AppContext): ServiceHandlers<typeof XkiAdminService.method>["createKey"] {
  return async (request) => {
    const id = externalKeyIdField(ctx, request.externalKeyId);
    const info = await ctx.hsm.createKey(id, performance.now() + ADMIN_DEADLINE_MS);
    ctx.logger.info("xki key created", { externalKeyId: id });
    return { key: keyMessage(info) };
  };
}
