// AppContext: everything a handler uses, built once by app.ts.
import type { Logger } from "@keyhold/server-kit";
import type { HsmGatewayConfig } from "./config.ts";
import type { Hsm } from "./domain/hsm.ts";
import type { HsmMetrics } from "./domain/metrics.ts";
import type { SessionPool } from "./domain/session-pool.ts";
import type { Token } from "./domain/token.ts";

export interface AppContext {
  readonly config: HsmGatewayConfig;
  readonly token: Token;
  readonly pool: SessionPool;
  readonly hsm: Hsm;
  readonly metrics: HsmMetrics;
  readonly logger: Logger;
}
