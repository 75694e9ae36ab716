// RemoveCredential: requests signed with this access key id fail from now on.
import type { XkiAdminService } from "@keyhold/proto";
import type { ServiceHandlers } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { accessKeyIdField, prefixField } from "./fields.ts";

export function removeCredential(ctx: AppContext): ServiceHandlers<typeof XkiAdminService.method>["removeCredential"] {
  return async (request) => {
    const prefix = prefixField(request.prefix);
    const accessKeyId = accessKeyIdField(request.accessKeyId);
    const removed = ctx.credentials.remove(prefix, accessKeyId);
    try {
      await ctx.credentialStore.save(ctx.credentials.adminCredentials());
    } catch (error) {
      ctx.credentials.add(removed);
      throw error;
    }
    ctx.logger.info("xki credential removed", { prefix, accessKeyId });
    return {};
  };
}
