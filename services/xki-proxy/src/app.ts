// Builds xki-proxy from its configuration: the external HSM through the shared @keyhold/pkcs11
// token, session pool and operation runner; the SigV4 credentials (configuration file plus the
// admin-added ones, unsealed by the HSM); the authorization policy; the health check; the XKS
// HTTP server and, when configured, the keyhold.xki.v1 admin API on its own gRPC port.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { HsmMetrics, OperationRunner, SessionPool, Token, type Pkcs11 } from "@keyhold/pkcs11";
import { KeyholdServer, type Logger } from "@keyhold/server-kit";
import { xkiAdminBindings } from "./admin/routes.ts";
import { readCredentialsFile, type XkiProxyConfig } from "./config.ts";
import type { AppContext } from "./context.ts";
import { CredentialStore } from "./domain/credential-store.ts";
import { CredentialRegistry } from "./domain/credentials.ts";
import { ExternalHsm } from "./domain/external-hsm.ts";
import { HealthCheck } from "./domain/health.ts";
import { AuthorizationPolicy } from "./domain/policy.ts";
import { createXksServer } from "./http/xks-server.ts";

export interface XkiProxyOverrides {
  /** Loads the PKCS#11 module (tests wrap it to inject a slow HSM); default: pkcs11js. */
  readonly load?: (path: string) => Pkcs11;
  /** The clock SigV4 checks the request time against. */
  readonly now?: () => Date;
}

export interface XkiProxyAddresses {
  readonly xksPort: number;
  readonly adminPort: number | undefined;
}

export interface XkiProxyApp {
  readonly context: AppContext;
  /** Loads the stored credentials, makes sure the health key exists, and listens. */
  start(): Promise<XkiProxyAddresses>;
  stop(): Promise<void>;
}

const START_DEADLINE_MS = 10_000;

export function createXkiProxyApp(config: XkiProxyConfig, logger: Logger, overrides: XkiProxyOverrides = {}): XkiProxyApp {
  const log = logger.child({ service: "xki-proxy" });
  const token = new Token({ modulePath: config.hsm.modulePath, token: config.hsm.token, pin: config.hsm.pin, logger: log, ...(overrides.load === undefined ? {} : { load: overrides.load }) });
  const gauges = { read: () => ({ size: 0, inUse: 0, waiting: 0, capacity: config.hsm.poolSize }) };
  const metrics = new HsmMetrics(() => gauges.read());
  const pool = new SessionPool({
    token,
    capacity: config.hsm.poolSize,
    reconnectIntervalMs: config.hsm.reconnectIntervalMs,
    onWait: (ms) => metrics.waited(ms),
    onConnectError: (ckr) => metrics.error("Connect", ckr ?? "UNKNOWN"),
  });
  gauges.read = () => pool.gauges();
  const hsm = new ExternalHsm(token, new OperationRunner(pool, metrics), {
    mode: config.hsm.callMode,
    onSlowInline: (ms) => log.warn("an inline HSM call was slow: using the thread pool for a minute", { ms: Math.round(ms) }),
  });
  const now = overrides.now ?? (() => new Date());
  const context: AppContext = {
    config,
    logger: log,
    token,
    pool,
    metrics,
    hsm,
    credentials: new CredentialRegistry(readCredentialsFile(config.credentialsFile), now()),
    credentialStore: new CredentialStore(config.dataDir, hsm, config.credentialKeyLabel),
    policy: config.policyFile === undefined ? undefined : AuthorizationPolicy.fromFile(config.policyFile),
    health: new HealthCheck({ hsm, keyLabel: config.healthKeyLabel, cacheMs: config.healthCacheMs, deadlineMs: config.hsmDeadlineMs }),
    internalKeyLabels: new Set([config.healthKeyLabel, config.credentialKeyLabel]),
    now,
  };
  let xksServer: Server | undefined;
  let adminServer: KeyholdServer | undefined;
  let stopped = false;

  return {
    context,
    async start() {
      pool.reconnectIfDown();
      for (const credential of await context.credentialStore.load()) context.credentials.add(credential);
      try {
        await hsm.ensureKey(config.healthKeyLabel, performance.now() + START_DEADLINE_MS);
      } catch (error) {
        log.warn("cannot make sure the health check key exists: health answers an error until the HSM serves", { reason: error instanceof Error ? error.message : "unknown" });
      }
      if (config.tls === undefined) log.warn("the XKS API listens without TLS: put a TLS-terminating load balancer in front (KMS only speaks HTTPS)");
      if (context.policy === undefined) log.info("no secondary authorization policy (KEYHOLD_XKI_POLICY_FILE): every signed request may use every key");
      const server = createXksServer(context);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.listen.port, config.listen.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      xksServer = server;
      const xksPort = (server.address() as AddressInfo).port;
      let adminPort: number | undefined;
      if (config.adminListen !== undefined && config.adminToken !== undefined) {
        adminServer = new KeyholdServer({
          bindings: xkiAdminBindings(context, config.adminToken),
          interceptors: [],
          logger: log,
          grpc: config.adminListen,
          http: undefined,
          maxMessageBytes: 1024 * 1024,
          corsOrigins: [],
          shutdownGraceMs: 5_000,
          // With TLS on the XKS API, the admin API (and its bearer token) is served over TLS too.
          tls: config.tls === undefined ? undefined : { certFile: config.tls.certFile, keyFile: config.tls.keyFile, requireClientCert: false },
        });
        adminPort = (await adminServer.start()).grpcPort;
      }
      log.info("xki-proxy listening", { xksPort, adminPort, tls: config.tls === undefined ? "off" : config.tls.clientCaFile === undefined ? "server" : "mutual", prefixes: context.credentials.prefixes().join(",") });
      return { xksPort, adminPort };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const server = xksServer;
      if (server !== undefined) {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), 5_000).unref();
        });
      }
      await adminServer?.stop();
      pool.close();
      for (let waited = 0; pool.gauges().inUse > 0 && waited < 30_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
      token.close();
    },
  };
}
