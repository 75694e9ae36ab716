// Builds hsm-gateway from its configuration: the token connection, the session pool, the
// operation runner and the handlers. The all-in-one process and a standalone main both use
// createHsmGatewayApp. A token that is absent at start does not stop the gateway: calls answer
// HSM_UNAVAILABLE until it appears, and it is connected on the first call after that.
import { HsmMetrics, OperationRunner, SessionPool, Token, type Pkcs11 } from "@keyhold/pkcs11";
import type { Logger, ServiceBinding } from "@keyhold/server-kit";
import type { HsmGatewayConfig } from "./config.ts";
import type { AppContext } from "./context.ts";
import { Hsm } from "./domain/hsm.ts";
import { hsmGatewayBindings } from "./routes.ts";

export interface HsmGatewayOverrides {
  /** Loads the PKCS#11 module (tests); default: pkcs11js. */
  readonly load?: (path: string) => Pkcs11;
}

export interface HsmGatewayApp {
  readonly context: AppContext;
  /** Served to Keyhold services only (each binding checks call.callingService itself). */
  readonly bindings: readonly ServiceBinding[];
  close(): Promise<void>;
}

export function createHsmGatewayApp(config: HsmGatewayConfig, logger: Logger, overrides: HsmGatewayOverrides = {}): HsmGatewayApp {
  const log = logger.child({ service: "hsm-gateway" });
  const token = new Token({ modulePath: config.modulePath, token: config.token, pin: config.pin, logger: log, ...(overrides.load === undefined ? {} : { load: overrides.load }) });
  const gauges = { read: () => ({ size: 0, inUse: 0, waiting: 0, capacity: config.poolSize }) };
  const metrics = new HsmMetrics(() => gauges.read());
  const pool = new SessionPool({
    token,
    capacity: config.poolSize,
    reconnectIntervalMs: config.reconnectIntervalMs,
    onWait: (ms) => metrics.waited(ms),
    onConnectError: (ckr) => metrics.error("Connect", ckr ?? "UNKNOWN"),
  });
  gauges.read = () => pool.gauges();
  const hsm = new Hsm(token, new OperationRunner(pool, metrics));
  const context: AppContext = { config, token, pool, hsm, metrics, logger: log };
  pool.reconnectIfDown();
  if (!token.up) log.warn("hsm token not available at start: calls answer HSM_UNAVAILABLE until it is", { modulePath: config.modulePath });
  let closed = false;
  return {
    context,
    bindings: hsmGatewayBindings(context),
    async close() {
      if (closed) return;
      closed = true;
      pool.close();
      // Operations still on the thread pool finish before the module is finalized.
      for (let waited = 0; pool.gauges().inUse > 0 && waited < 30_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
      token.close();
    },
  };
}
