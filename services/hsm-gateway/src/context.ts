// AppContext: everything a handler uses, built once by app.ts.
import type { HsmMetrics, SessionPool, Token } from "@keyhold/pkcs11";
import type { Logger } from "@keyhold/server-kit";
import type { HsmGatewayConfig } from "./config.ts";
import type { Hsm } from "./domain/hsm.ts";

export interface AppContext {
  readonly config: HsmGatewayConfig;
  readonly token: Token;
  readonly pool: SessionPool;
  readonly hsm: Hsm;
  readonly metrics: HsmMetrics;
  readonly logger: Logger;
}
