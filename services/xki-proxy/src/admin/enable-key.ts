// EnableKey: the key may encrypt and decrypt again (XKS metadata: ENABLED).
import type { XkiAdminService } from "@keyhold/proto";
import type { ServiceHandlers } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { ADMIN_DEADLINE_MS, externalKeyIdField, keyMessage } from "./fields.ts";

export function enableKey(ctx: AppContext): ServiceHandlers<typeof XkiAdminService.method>["enableKey"] {
  return async (request) => {
    const id = externalKeyIdField(ctx, request.externalKeyId);
    const info = await ctx.hsm.setEnabled(id, true, performance.now() + ADMIN_DEADLINE_MS);
    ctx.logger.info("xki key enabled", { externalKeyId: id });
    return { key: keyMessage(info) };
  };
}
