// ListCredentials: prefixes, access key ids, fingerprints and sources; never a secret.
import type { XkiAdminService } from "@keyhold/proto";
import type { ServiceHandlers } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { credentialMessage, prefixField } from "./fields.ts";

export function listCredentials(ctx: AppContext): ServiceHandlers<typeof XkiAdminService.method>["listCredentials"] {
  return (request) => {
    const prefix = request.prefix === undefined ? undefined : prefixField(request.prefix);
    return Promise.resolve({ credentials: ctx.credentials.list(prefix).map(credentialMessage) });
  };
}
