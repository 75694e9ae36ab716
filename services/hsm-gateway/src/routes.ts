// Composes the handlers into HsmService, behind the check that only Keyhold services call it.
import { HsmService } from "@keyhold/proto";
import { bindService, KeyholdError, type CallInterceptor, type ServiceBinding } from "@keyhold/server-kit";
import type { AppContext } from "./context.ts";
import { decrypt } from "./handlers/decrypt.ts";
import { destroyKey } from "./handlers/destroy-key.ts";
import { encrypt } from "./handlers/encrypt.ts";
import { generateKey } from "./handlers/generate-key.ts";
import { generateRandom } from "./handlers/generate-random.ts";
import { getPublicKey } from "./handlers/get-public-key.ts";
import { getStatus } from "./handlers/get-status.ts";
import { sign } from "./handlers/sign.ts";
import { unwrapKey } from "./handlers/unwrap-key.ts";
import { verify } from "./handlers/verify.ts";
import { wrapKey } from "./handlers/wrap-key.ts";

/**
 * The gateway is internal: a call must come from a trusted Keyhold service (in-process, or over
 * mutually authenticated TLS: call.callingService set by the transport); anyone else is
 * PERMISSION_DENIED ACCESS_DENIED, before any input is looked at.
 */
export const keyholdServicesOnly: CallInterceptor = (next) => async (request, call) => {
  if (call.callingService === undefined) {
    throw new KeyholdError("ACCESS_DENIED", `access denied: ${call.method.name} is an internal Keyhold API`);
  }
  return next(request, call);
};

export function hsmGatewayBindings(ctx: AppContext): ServiceBinding[] {
  return [
    bindService(
      HsmService,
      {
        generateKey: generateKey(ctx),
        encrypt: encrypt(ctx),
        decrypt: decrypt(ctx),
        sign: sign(ctx),
        verify: verify(ctx),
        wrapKey: wrapKey(ctx),
        unwrapKey: unwrapKey(ctx),
        getPublicKey: getPublicKey(ctx),
        generateRandom: generateRandom(ctx),
        destroyKey: destroyKey(ctx),
        getStatus: getStatus(ctx),
      },
      [keyholdServicesOnly],
    ),
  ];
}
