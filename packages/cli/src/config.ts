// The only reader of the environment for the keyhold command.
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { readAuditServiceConfig, type AuditServiceConfig } from "@keyhold/audit-service";
import { readCoordinationConfig, type CoordinationConfig } from "@keyhold/coordination";
import { hsmConfigured, readHsmGatewayConfig, type HsmGatewayConfig } from "@keyhold/hsm-gateway";
import { readKeyServiceConfig, type KeyServiceConfig } from "@keyhold/key-service";
import { readPolicyServiceConfig, type PolicyServiceConfig } from "@keyhold/policy-service";
import { readSecretsServiceConfig, type SecretsServiceConfig } from "@keyhold/secrets-service";
import {
  ConfigError, integerSetting, parseListenAddress, readOrCreateSecretFile, readServerConfig, readTelemetryConfig,
  type Environment, type ServerConfig, type TelemetryConfig,
} from "@keyhold/server-kit";

export interface DevConfig {
  readonly dataDir: string;
  readonly server: ServerConfig;
  readonly keyService: KeyServiceConfig;
  readonly policyService: PolicyServiceConfig;
  readonly auditService: AuditServiceConfig;
  readonly secretsService: SecretsServiceConfig;
  /**
   * hsm-gateway, when a PKCS#11 module is configured (KEYHOLD_HSM_MODULE, with
   * KEYHOLD_HSM_TOKEN_LABEL or KEYHOLD_HSM_SLOT, and KEYHOLD_HSM_PIN_FILE or KEYHOLD_HSM_PIN);
   * undefined otherwise, and the gateway is not started.
   */
  readonly hsmGateway: HsmGatewayConfig | undefined;
  /** The key of the HMAC over encryption context values in audit events (32 random bytes, 0600, created on first start). */
  readonly auditHmacKeyFile: string;
  /** Where each service's audit outbox lives: `<dataDir>/<service>-audit-outbox.sqlite`. */
  readonly auditOutboxDir: string;
  /** Where `keyhold dev` writes a generated administrator API key (mode 0600). */
  readonly adminKeyFile: string;
  /**
   * KEYHOLD_AUDIT (default "on"). "off" is for benchmarking only: no public binding runs the audit
   * interceptor and no outbox or shipper is opened, so every call goes unaudited (audit-service
   * itself still runs). Anything but "on" or "off" is refused.
   */
  readonly audit: boolean;
  /** Traces (KEYHOLD_OTEL_TRACES, off by default) and metrics (KEYHOLD_METRICS, GET /metrics): docs/observability.md. */
  readonly telemetry: TelemetryConfig;
  /** KEYHOLD_REDIS_URL (unset: in-process), Redis timeouts and the quotas (docs/coordination.md). */
  readonly coordination: CoordinationConfig;
}

export const DEFAULT_GRPC_ADDRESS = "127.0.0.1:7700";
export const DEFAULT_HTTP_ADDRESS = "127.0.0.1:7701";

export function readDevConfig(env: Readonly<Record<string, string | undefined>>, cwd: string): DevConfig {
  const dataDir = resolve(cwd, env["KEYHOLD_DATA_DIR"] ?? join(".data", "dev"));
  return {
    dataDir,
    server: readServerConfig(env, { grpc: DEFAULT_GRPC_ADDRESS, http: DEFAULT_HTTP_ADDRESS }),
    keyService: readKeyServiceConfig(env, dataDir),
    policyService: readPolicyServiceConfig(env, dataDir),
    auditService: readAuditServiceConfig(env, dataDir),
    secretsService: readSecretsServiceConfig(env, dataDir),
    hsmGateway: hsmConfigured(env) ? readHsmGatewayConfig(env) : undefined,
    auditHmacKeyFile: env["KEYHOLD_AUDIT_HMAC_KEY_FILE"] ?? join(dataDir, "audit-hmac.key"),
    auditOutboxDir: dataDir,
    adminKeyFile: join(dataDir, "admin-api-key"),
    audit: readAuditSwitch(env["KEYHOLD_AUDIT"]),
    telemetry: readTelemetryConfig(env, { serviceName: "keyhold" }),
    coordination: readCoordinationConfig(env),
  };
}

/** KEYHOLD_AUDIT: unset or "on" audits every public call; "off" (benchmarking only) audits none. */
function readAuditSwitch(value: string | undefined): boolean {
  if (value === undefined || value === "on") return true;
  if (value === "off") return false;
  throw new Error(`KEYHOLD_AUDIT must be on or off, got "${value}"`);
}

export const AUDIT_HMAC_KEY_BYTES = 32;

/**
 * Reads the audit HMAC key file, creating it (32 random bytes, mode 0600) when missing. A file
 * of another size is refused rather than replaced: events already recorded depend on it.
 */
/** The audit HMAC key, created (32 random bytes, mode 0600) on first start. */
export async function loadAuditHmacKey(path: string): Promise<Uint8Array> {
  const { bytes } = await readOrCreateSecretFile(path, {
    what: "audit HMAC key file",
    maxBytes: 4096,
    generate: () => randomBytes(AUDIT_HMAC_KEY_BYTES),
  });
  if (bytes.byteLength !== AUDIT_HMAC_KEY_BYTES) {
    bytes.fill(0);
    throw new Error(`${path} must hold exactly ${AUDIT_HMAC_KEY_BYTES} bytes (the audit HMAC key)`);
  }
  return new Uint8Array(bytes);
}

export function loadDevConfig(): DevConfig {
  return readDevConfig(process.env, process.cwd());
}

// ---------------------------------------------------------------------------------------------
// `keyhold serve <service>`: one service per process.

/** The services `keyhold serve` runs (xki-proxy has its own configuration: `keyhold xki-proxy`). */
export const SERVED_SERVICES = ["policy-service", "audit-service", "hsm-gateway", "key-service", "secrets-service"] as const;
export type ServedService = (typeof SERVED_SERVICES)[number];

export function isServedService(name: string): name is ServedService {
  return (SERVED_SERVICES as readonly string[]).includes(name);
}

/** Where a served service finds its peers (host:port of each peer's gRPC port). */
export interface PeerAddresses {
  /** KEYHOLD_POLICY_SERVICE_ADDR */
  readonly policyService: string | undefined;
  /** KEYHOLD_AUDIT_SERVICE_ADDR */
  readonly auditService: string | undefined;
  /** KEYHOLD_KEY_SERVICE_ADDR */
  readonly keyService: string | undefined;
  /** KEYHOLD_HSM_GATEWAY_ADDR (key-service: optional, the HSM behind KEYHOLD_ROOT_KEY=hsm and HSM keys) */
  readonly hsmGateway: string | undefined;
}

export interface ServeConfig {
  readonly service: ServedService;
  readonly dataDir: string;
  /** Its public ports; TLS with client certificates verified against the service CA (required). */
  readonly server: ServerConfig;
  /**
   * This service's certificate and key (KEYHOLD_TLS_CERT_FILE / KEYHOLD_TLS_KEY_FILE, whose URI SAN
   * is spiffe://keyhold.internal/service/<service>) as client certificate towards its peers, and
   * the CA peers' server certificates must chain to (KEYHOLD_TLS_CLIENT_CA_FILE).
   */
  readonly peerTls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  readonly peers: PeerAddresses;
  /** KEYHOLD_PEER_TIMEOUT_MS (default 10000): the deadline of a peer call made outside any incoming call's. */
  readonly peerTimeoutMs: number;
  readonly keyService: KeyServiceConfig | undefined;
  readonly policyService: PolicyServiceConfig | undefined;
  readonly auditService: AuditServiceConfig | undefined;
  readonly secretsService: SecretsServiceConfig | undefined;
  readonly hsmGateway: HsmGatewayConfig | undefined;
  readonly auditHmacKeyFile: string;
  /**
   * KEYHOLD_AUDIT_OUTBOX_DIR (default the data directory): where this process's
   * `<service>-audit-outbox.sqlite` lives. Replicas of one service each need their own.
   */
  readonly auditOutboxDir: string;
  readonly adminKeyFile: string;
  readonly audit: boolean;
  /**
   * KEYHOLD_KEY_JOBS (key-service; on by default): "off" runs no rotation, deletion or expiry
   * jobs in this replica (one replica of several runs them while they share SQLite).
   */
  readonly keyJobs: boolean;
  /**
   * KEYHOLD_STOP_ON_STDIN_CLOSE (true/false, default false): stop gracefully when standard input
   * closes, as SIGTERM does (`keyhold topology` sets it: its services never outlive it).
   */
  readonly stopOnStdinClose: boolean;
  /** KEYHOLD_REDIS_URL (unset: in-process), Redis timeouts and the quotas (docs/coordination.md). */
  readonly coordination: CoordinationConfig;
  readonly telemetry: TelemetryConfig;
}

export const DEFAULT_PEER_TIMEOUT_MS = 10_000;

function peerAddress(env: Environment, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value === "") return undefined;
  parseListenAddress(name, value);
  return value;
}

function onOff(env: Environment, name: string, fallback: boolean): boolean {
  const value = env[name];
  if (value === undefined || value === "") return fallback;
  if (value === "on") return true;
  if (value === "off") return false;
  throw new ConfigError(`${name} must be on or off, got "${value}"`);
}

/** Peers each service needs, by the variable naming them. */
const REQUIRED_PEERS: Readonly<Record<ServedService, readonly string[]>> = {
  "policy-service": ["KEYHOLD_AUDIT_SERVICE_ADDR"],
  "audit-service": ["KEYHOLD_POLICY_SERVICE_ADDR"],
  "hsm-gateway": [],
  "key-service": ["KEYHOLD_POLICY_SERVICE_ADDR", "KEYHOLD_AUDIT_SERVICE_ADDR"],
  "secrets-service": ["KEYHOLD_POLICY_SERVICE_ADDR", "KEYHOLD_AUDIT_SERVICE_ADDR", "KEYHOLD_KEY_SERVICE_ADDR"],
};

export function readServeConfig(service: ServedService, env: Environment, cwd: string): ServeConfig {
  const dataDir = resolve(cwd, env["KEYHOLD_DATA_DIR"] ?? join(".data", service));
  const server = readServerConfig(env, { grpc: "127.0.0.1:0", http: "127.0.0.1:0" });
  const tls = server.tls;
  if (tls === undefined || tls.clientCaFile === undefined) {
    throw new ConfigError(
      `keyhold serve ${service} needs mutual TLS with its peers: set KEYHOLD_TLS_CERT_FILE and KEYHOLD_TLS_KEY_FILE (this service's certificate, ` +
        `URI SAN spiffe://keyhold.internal/service/${service}) and KEYHOLD_TLS_CLIENT_CA_FILE (the service CA); keyhold dev-ca <dir> makes them`,
    );
  }
  if (env["KEYHOLD_GRPC_ADDR"] === undefined || env["KEYHOLD_HTTP_ADDR"] === undefined) {
    throw new ConfigError("KEYHOLD_GRPC_ADDR and KEYHOLD_HTTP_ADDR are required (host:port; port 0 picks a free one)");
  }
  const peers: PeerAddresses = {
    policyService: peerAddress(env, "KEYHOLD_POLICY_SERVICE_ADDR"),
    auditService: peerAddress(env, "KEYHOLD_AUDIT_SERVICE_ADDR"),
    keyService: peerAddress(env, "KEYHOLD_KEY_SERVICE_ADDR"),
    hsmGateway: peerAddress(env, "KEYHOLD_HSM_GATEWAY_ADDR"),
  };
  const missing = REQUIRED_PEERS[service].filter((name) => (env[name] ?? "") === "");
  if (missing.length > 0) throw new ConfigError(`keyhold serve ${service} needs ${missing.join(", ")} (host:port of the peer's gRPC port)`);
  if (service === "hsm-gateway" && !hsmConfigured(env)) throw new ConfigError("keyhold serve hsm-gateway needs a PKCS#11 module: KEYHOLD_HSM_MODULE and its token settings");
  return {
    service,
    dataDir,
    server,
    peerTls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.clientCaFile },
    peers,
    peerTimeoutMs: integerSetting(env, "KEYHOLD_PEER_TIMEOUT_MS", DEFAULT_PEER_TIMEOUT_MS, { min: 1, max: 600_000 }),
    keyService: service === "key-service" ? readKeyServiceConfig(env, dataDir) : undefined,
    policyService: service === "policy-service" ? readPolicyServiceConfig(env, dataDir) : undefined,
    auditService: service === "audit-service" ? readAuditServiceConfig(env, dataDir) : undefined,
    secretsService: service === "secrets-service" ? readSecretsServiceConfig(env, dataDir) : undefined,
    hsmGateway: service === "hsm-gateway" ? readHsmGatewayConfig(env) : undefined,
    auditHmacKeyFile: env["KEYHOLD_AUDIT_HMAC_KEY_FILE"] ?? join(dataDir, "audit-hmac.key"),
    auditOutboxDir: resolve(cwd, env["KEYHOLD_AUDIT_OUTBOX_DIR"] ?? dataDir),
    adminKeyFile: join(dataDir, "admin-api-key"),
    audit: readAuditSwitch(env["KEYHOLD_AUDIT"]),
    keyJobs: onOff(env, "KEYHOLD_KEY_JOBS", true),
    stopOnStdinClose: stopOnStdinClose(env),
    coordination: readCoordinationConfig(env),
    telemetry: readTelemetryConfig(env, { serviceName: service }),
  };
}

export function loadServeConfig(service: ServedService): ServeConfig {
  return readServeConfig(service, process.env, process.cwd());
}

// ---------------------------------------------------------------------------------------------
// `keyhold topology`: every service as its own process on this machine.

export interface TopologyConfig {
  /** KEYHOLD_DATA_DIR (default ./.data/topology): the CA (ca/), each service's data, logs/, stores. */
  readonly dataDir: string;
  /** KEYHOLD_TOPOLOGY_HOST (default 127.0.0.1): where every port listens. */
  readonly host: string;
  /** KEYHOLD_TOPOLOGY_KEY_REPLICAS (default 2, 1 to 16): key-service processes sharing one address. */
  readonly keyServiceReplicas: number;
  /** KEYHOLD_TOPOLOGY_POSTGRES (on/off, default off): a throwaway PostgreSQL, its URL given to the services as KEYHOLD_DATABASE_URL. */
  readonly postgres: boolean;
  /** KEYHOLD_TOPOLOGY_REDIS (on/off, default off): a throwaway redis-server, its URL given as KEYHOLD_REDIS_URL. */
  readonly redis: boolean;
  /** hsm-gateway runs when a PKCS#11 module is configured (KEYHOLD_HSM_MODULE …, passed on to it). */
  readonly hsm: boolean;
  /**
   * xki-proxy (the bridge to the customer's own HSM, HYOK) runs when its HSM is configured
   * (KEYHOLD_XKI_HSM_MODULE …, passed on to it); its admin API too when an admin token is
   * (KEYHOLD_XKI_ADMIN_TOKEN or KEYHOLD_XKI_ADMIN_TOKEN_FILE).
   */
  readonly xkiProxy: boolean;
  readonly xkiProxyAdmin: boolean;
  /**
   * KEYHOLD_TOPOLOGY_GATEWAY (on/off, default off): one plaintext gRPC and one plaintext HTTP port
   * in the launcher that forward every call to the service serving it (gateway.ts), for clients
   * that expect one address for everything as `keyhold dev` gives them. Development and tests only.
   */
  readonly gateway: boolean;
  /** KEYHOLD_TOPOLOGY_START_TIMEOUT_MS (default 60000): how long each service may take to serve. */
  readonly startTimeoutMs: number;
  /** KEYHOLD_TOPOLOGY_CA_FORCE (on/off, default off): make the CA anew even when the data directory has one. */
  readonly forceCa: boolean;
  /**
   * The environment every service process starts from (this one, less the settings the launcher
   * sets per process: addresses, TLS files, data and outbox directories, peers).
   */
  readonly serviceEnv: Environment;
}

/** Set per service process by the launcher; never inherited from the launcher's own environment. */
const PER_PROCESS = new Set([
  "KEYHOLD_GRPC_ADDR", "KEYHOLD_HTTP_ADDR", "KEYHOLD_TLS_CERT_FILE", "KEYHOLD_TLS_KEY_FILE", "KEYHOLD_TLS_CLIENT_CA_FILE",
  "KEYHOLD_TLS_REQUIRE_CLIENT_CERT", "KEYHOLD_DATA_DIR", "KEYHOLD_AUDIT_OUTBOX_DIR", "KEYHOLD_POLICY_SERVICE_ADDR",
  "KEYHOLD_AUDIT_SERVICE_ADDR", "KEYHOLD_KEY_SERVICE_ADDR", "KEYHOLD_HSM_GATEWAY_ADDR", "KEYHOLD_REUSE_PORT", "KEYHOLD_KEY_JOBS",
  "KEYHOLD_STOP_ON_STDIN_CLOSE", "KEYHOLD_XKI_ADDR", "KEYHOLD_XKI_ADMIN_ADDR", "KEYHOLD_XKI_DATA_DIR",
]);

export function readTopologyConfig(env: Environment, cwd: string): TopologyConfig {
  const host = env["KEYHOLD_TOPOLOGY_HOST"] ?? "127.0.0.1";
  parseListenAddress("KEYHOLD_TOPOLOGY_HOST", `${host.includes(":") ? `[${host}]` : host}:0`);
  const serviceEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined && !PER_PROCESS.has(name) && !name.startsWith("KEYHOLD_TOPOLOGY_")) serviceEnv[name] = value;
  return {
    dataDir: resolve(cwd, env["KEYHOLD_DATA_DIR"] ?? join(".data", "topology")),
    host,
    keyServiceReplicas: integerSetting(env, "KEYHOLD_TOPOLOGY_KEY_REPLICAS", 2, { min: 1, max: 16 }),
    postgres: onOff(env, "KEYHOLD_TOPOLOGY_POSTGRES", false),
    redis: onOff(env, "KEYHOLD_TOPOLOGY_REDIS", false),
    hsm: hsmConfigured(env),
    xkiProxy: (env["KEYHOLD_XKI_HSM_MODULE"] ?? "") !== "",
    xkiProxyAdmin: (env["KEYHOLD_XKI_ADMIN_TOKEN"] ?? "") !== "" || (env["KEYHOLD_XKI_ADMIN_TOKEN_FILE"] ?? "") !== "",
    gateway: onOff(env, "KEYHOLD_TOPOLOGY_GATEWAY", false),
    startTimeoutMs: integerSetting(env, "KEYHOLD_TOPOLOGY_START_TIMEOUT_MS", 60_000, { min: 1000, max: 600_000 }),
    forceCa: onOff(env, "KEYHOLD_TOPOLOGY_CA_FORCE", false),
    serviceEnv,
  };
}

export function loadTopologyConfig(): TopologyConfig {
  return readTopologyConfig(process.env, process.cwd());
}

/**
 * The environment `keyhold xki-proxy` (and `keyhold serve xki-proxy`) starts from: xki-proxy reads
 * its own settings from it (services/xki-proxy/src/config.ts).
 */
export function xkiProxyEnvironment(): Environment {
  return process.env;
}

/** KEYHOLD_STOP_ON_STDIN_CLOSE=true (set by `keyhold topology`): a process stops when its standard input closes. */
export function stopOnStdinClose(env: Environment): boolean {
  return env["KEYHOLD_STOP_ON_STDIN_CLOSE"] === "true";
}
