// ListKeys: the AES-256 keys in the HSM by external key id (the proxy's own keys left out), paged.
import type { XkiAdminService } from "@keyhold/proto";
import { decodePageToken, encodePageToken, pageSize, type ServiceHandlers } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { ADMIN_DEADLINE_MS, keyMessage } from "./fields.ts";

export function listKeys(ctx: AppContext): ServiceHandlers<typeof XkiAdminService.method>["listKeys"] {
  return async (request) => {
    const size = pageSize(request.pageSize);
    const after = decodePageToken("xki-keys", request.pageToken);
    const all = (await ctx.hsm.listKeys(performance.now() + ADMIN_DEADLINE_MS)).filter((k) => !ctx.internalKeyLabels.has(k.label));
    const rest = after === undefined ? all : all.filter((k) => k.label > after);
    const page = rest.slice(0, size);
    return {
      keys: page.map(keyMessage),
      nextPageToken: rest.length > size ? encodePageToken("xki-keys", page.at(-1)?.label) : "",
    };
  };
}
