// Composes the admin handlers into keyhold.xki.v1.XkiAdminService behind the admin token check.
import { XkiAdminService } from "@keyhold/proto";
import { bindService, type ServiceBinding } from "@keyhold/server-kit";
import type { AdminToken } from "../config.ts";
import type { AppContext } from "../context.ts";
import { addCredential } from "./add-credential.ts";
import { adminTokenOnly } from "./admin-token.ts";
import { createKey } from "./create-key.ts";
import { disableKey } from "./disable-key.ts";
import { enableKey } from "./enable-key.ts";
import { listCredentials } from "./list-credentials.ts";
import { listKeys } from "./list-keys.ts";
import { removeCredential } from "./remove-credential.ts";

export function xkiAdminBindings(ctx: AppContext, token: AdminToken): ServiceBinding[] {
  return [
    bindService(
      XkiAdminService,
      {
        createKey: createKey(ctx),
        listKeys: listKeys(ctx),
        enableKey: enableKey(ctx),
        disableKey: disableKey(ctx),
        addCredential: addCredential(ctx),
        listCredentials: listCredentials(ctx),
        removeCredential: removeCredential(ctx),
      },
      [adminTokenOnly(token)],
    ),
  ];
}
