// DisableKey: the HSM refuses the key for encryption and decryption (XKS metadata: DISABLED;
// XKS encrypt and decrypt: InvalidStateException).
import type { XkiAdminService } from "@keyhold/proto";
import type { ServiceHandlers } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { ADMIN_DEADLINE_MS, externalKeyIdField, keyMessage } from "./fields.ts";

export function disableKey(ctx: AppContext): ServiceHandlers<typeof XkiAdminService.method>["disableKey"] {
  return async (request) => {
    const id = externalKeyIdField(ctx, request.externalKeyId);
    const info = await ctx.hsm.setEnabled(id, false, performance.now() + ADMIN_DEADLINE_MS);
    ctx.logger.info("xki key disabled", { externalKeyId: id });
    return { key: keyMessage(info) };
  };
}
