// The only reader of the environment for xki-proxy: typed, validated, defaults in one place.
// Secrets (the token PIN, the admin token) come from a file (preferred) or the environment and
// are held in HsmPin-like wrappers whose printed and JSON forms hide them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HsmPin, type TokenSelector } from "@keyhold/pkcs11";
import { ConfigError, integerSetting, parseListenAddress, RedactedSecret, type Environment, type ListenAddress, type LogLevel } from "@keyhold/server-kit";
import { normalizePrefix } from "@keyhold/xks";
import type { HsmCallMode } from "./domain/external-hsm.ts";

export { ConfigError };
export type { Environment };

export interface XksTlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM CA(s) client certificates must chain to (mTLS); unset: no client certificates. */
  readonly clientCaFile: string | undefined;
  /** Subject CNs a client certificate may carry (e.g. cks.kms.us-east-1.amazonaws.com); empty: any that verifies. */
  readonly clientSubjects: readonly string[];
}

export interface XkiHsmConfig {
  readonly modulePath: string;
  readonly token: TokenSelector;
  readonly pin: HsmPin;
  readonly poolSize: number;
  readonly reconnectIntervalMs: number;
  /** thread-pool (default: a hung HSM never holds the proxy) or inline (microsecond HSMs). */
  readonly callMode: HsmCallMode;
}

export interface XkiProxyConfig {
  /** Where the XKS API (HTTP/1.1, HTTPS when tls is set) listens. */
  readonly listen: ListenAddress;
  readonly tls: XksTlsConfig | undefined;
  /** SigV4 region the credentials are scoped to (the AWS region of the external key store). */
  readonly region: string;
  /** Largest accepted X-Amz-Date skew (5 minutes). */
  readonly maxSkewMs: number;
  /** Path prefixes served ("" for none) and the credentials configured for each (JSON file). */
  readonly credentialsFile: string | undefined;
  /** Where admin-added credentials are kept (sealed by a key in the HSM). */
  readonly dataDir: string;
  /** The secondary authorization policy (JSON); unset: no secondary authorization. */
  readonly policyFile: string | undefined;
  readonly hsm: XkiHsmConfig;
  /** Deadline of every HSM call of one XKS request (well inside KMS's 250 ms). */
  readonly hsmDeadlineMs: number;
  /** Label of the test key the deep health check encrypts and decrypts with. */
  readonly healthKeyLabel: string;
  /** Label of the key that seals admin-added SigV4 secrets at rest. */
  readonly credentialKeyLabel: string;
  /** How long a health check result is reused (at most one minute). */
  readonly healthCacheMs: number;
  /** Plain GET for load balancers. */
  readonly pingPath: string;
  /** Largest request body accepted (bytes). */
  readonly maxBodyBytes: number;
  /** Most XKS requests served at once; more are ThrottlingException (429) at once. */
  readonly maxInFlight: number;
  readonly fleetSize: number;
  readonly ekmVendor: string;
  readonly ekmModel: string;
  /** Where the keyhold.xki.v1 admin API (gRPC) listens; undefined: not served. */
  readonly adminListen: ListenAddress | undefined;
  /** The admin API's bearer token. */
  readonly adminToken: AdminToken | undefined;
  readonly logLevel: LogLevel;
}

/** The admin API token; never printed. */
export class AdminToken extends RedactedSecret {
  constructor(value: string) {
    super(value, "AdminToken");
  }
}

const integer = (env: Environment, name: string, fallback: number, min: number, max: number): number => integerSetting(env, name, fallback, { min, max });

function text(env: Environment, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

/** A secret from NAME_FILE (preferred) or NAME; the message never includes the value. */
function secret(env: Environment, name: string): string | undefined {
  const file = text(env, `${name}_FILE`);
  const direct = text(env, name);
  if (file !== undefined && direct !== undefined) throw new ConfigError(`set only one of ${name}_FILE and ${name}`);
  if (file === undefined) return direct;
  try {
    return readFileSync(file, "utf8").replace(/\r?\n$/, "");
  } catch (error) {
    throw new ConfigError(`${name}_FILE cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

function listen(env: Environment, name: string, fallback: string): ListenAddress {
  const raw = text(env, name) ?? fallback;
  try {
    return parseListenAddress(name, raw);
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : `${name} must be host:port`);
  }
}

function hsmConfig(env: Environment): XkiHsmConfig {
  const modulePath = text(env, "KEYHOLD_XKI_HSM_MODULE");
  if (modulePath === undefined) throw new ConfigError("KEYHOLD_XKI_HSM_MODULE (the PKCS#11 module of the external HSM) is required");
  const label = text(env, "KEYHOLD_XKI_HSM_TOKEN_LABEL");
  const slotRaw = text(env, "KEYHOLD_XKI_HSM_SLOT");
  if ((label === undefined) === (slotRaw === undefined)) throw new ConfigError("set exactly one of KEYHOLD_XKI_HSM_TOKEN_LABEL and KEYHOLD_XKI_HSM_SLOT");
  let token: TokenSelector;
  if (label !== undefined) {
    if (label.length > 32) throw new ConfigError("KEYHOLD_XKI_HSM_TOKEN_LABEL must be at most 32 characters");
    token = { label };
  } else {
    const slot = Number(slotRaw);
    if (!Number.isSafeInteger(slot) || slot < 0) throw new ConfigError(`KEYHOLD_XKI_HSM_SLOT must be a non-negative integer, got "${slotRaw ?? ""}"`);
    token = { slot };
  }
  const pin = secret(env, "KEYHOLD_XKI_HSM_PIN");
  if (pin === undefined || pin === "") throw new ConfigError("the token user PIN is required: KEYHOLD_XKI_HSM_PIN_FILE or KEYHOLD_XKI_HSM_PIN");
  if (pin.length > 255) throw new ConfigError("the token user PIN is longer than 255 characters");
  return {
    modulePath,
    token,
    pin: new HsmPin(pin),
    poolSize: integer(env, "KEYHOLD_XKI_HSM_POOL_SIZE", 16, 1, 1024),
    reconnectIntervalMs: integer(env, "KEYHOLD_XKI_HSM_RECONNECT_INTERVAL_MS", 500, 1, 60_000),
    callMode: callMode(env),
  };
}

function callMode(env: Environment): HsmCallMode {
  const raw = text(env, "KEYHOLD_XKI_HSM_CALL_MODE") ?? "thread-pool";
  if (raw !== "thread-pool" && raw !== "inline") throw new ConfigError(`KEYHOLD_XKI_HSM_CALL_MODE must be thread-pool or inline, got "${raw}"`);
  return raw;
}

function tlsConfig(env: Environment): XksTlsConfig | undefined {
  const certFile = text(env, "KEYHOLD_XKI_TLS_CERT_FILE");
  const keyFile = text(env, "KEYHOLD_XKI_TLS_KEY_FILE");
  const clientCaFile = text(env, "KEYHOLD_XKI_TLS_CLIENT_CA_FILE");
  const subjects = (text(env, "KEYHOLD_XKI_TLS_CLIENT_SUBJECTS") ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError("set both KEYHOLD_XKI_TLS_CERT_FILE and KEYHOLD_XKI_TLS_KEY_FILE, or neither");
  if (certFile === undefined || keyFile === undefined) {
    if (clientCaFile !== undefined || subjects.length > 0) throw new ConfigError("KEYHOLD_XKI_TLS_CLIENT_CA_FILE and KEYHOLD_XKI_TLS_CLIENT_SUBJECTS need TLS (KEYHOLD_XKI_TLS_CERT_FILE, KEYHOLD_XKI_TLS_KEY_FILE)");
    return undefined;
  }
  if (subjects.length > 0 && clientCaFile === undefined) throw new ConfigError("KEYHOLD_XKI_TLS_CLIENT_SUBJECTS needs KEYHOLD_XKI_TLS_CLIENT_CA_FILE");
  return { certFile, keyFile, clientCaFile, clientSubjects: subjects };
}

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

export function readXkiProxyConfig(env: Environment): XkiProxyConfig {
  const logLevel = (text(env, "KEYHOLD_XKI_LOG_LEVEL") ?? "info") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`KEYHOLD_XKI_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);
  const region = text(env, "KEYHOLD_XKI_REGION") ?? "us-east-1";
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw new ConfigError(`KEYHOLD_XKI_REGION must be a region name like us-east-1, got "${region}"`);
  const pingPath = text(env, "KEYHOLD_XKI_PING_PATH") ?? "/ping";
  if (!/^\/[A-Za-z0-9/_.-]*$/.test(pingPath) || pingPath.includes("/kms/xks/")) throw new ConfigError(`KEYHOLD_XKI_PING_PATH must be a path like /ping, got "${pingPath}"`);
  const adminTokenValue = secret(env, "KEYHOLD_XKI_ADMIN_TOKEN");
  if (adminTokenValue !== undefined && adminTokenValue.length < 24) throw new ConfigError("the admin token (KEYHOLD_XKI_ADMIN_TOKEN_FILE or KEYHOLD_XKI_ADMIN_TOKEN) must be at least 24 characters");
  const adminAddr = text(env, "KEYHOLD_XKI_ADMIN_ADDR");
  if (adminAddr !== undefined && adminTokenValue === undefined) throw new ConfigError("KEYHOLD_XKI_ADMIN_ADDR needs an admin token: KEYHOLD_XKI_ADMIN_TOKEN_FILE or KEYHOLD_XKI_ADMIN_TOKEN");
  const healthKeyLabel = text(env, "KEYHOLD_XKI_HEALTH_KEY_LABEL") ?? "xki-proxy-health-check";
  const credentialKeyLabel = text(env, "KEYHOLD_XKI_CREDENTIAL_KEY_LABEL") ?? "xki-proxy-credential-seal";
  for (const [name, value] of [["KEYHOLD_XKI_HEALTH_KEY_LABEL", healthKeyLabel], ["KEYHOLD_XKI_CREDENTIAL_KEY_LABEL", credentialKeyLabel]] as const) {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(value)) throw new ConfigError(`${name} must be 1-128 of [A-Za-z0-9._-]`);
  }
  return {
    listen: listen(env, "KEYHOLD_XKI_ADDR", "127.0.0.1:7810"),
    tls: tlsConfig(env),
    region,
    maxSkewMs: integer(env, "KEYHOLD_XKI_MAX_SKEW_MS", 300_000, 1_000, 900_000),
    credentialsFile: text(env, "KEYHOLD_XKI_CREDENTIALS_FILE"),
    dataDir: text(env, "KEYHOLD_XKI_DATA_DIR") ?? join(".data", "xki-proxy"),
    policyFile: text(env, "KEYHOLD_XKI_POLICY_FILE"),
    hsm: hsmConfig(env),
    hsmDeadlineMs: integer(env, "KEYHOLD_XKI_HSM_DEADLINE_MS", 150, 10, 240),
    healthKeyLabel,
    credentialKeyLabel,
    healthCacheMs: integer(env, "KEYHOLD_XKI_HEALTH_CACHE_MS", 10_000, 0, 60_000),
    pingPath,
    maxBodyBytes: integer(env, "KEYHOLD_XKI_MAX_BODY_BYTES", 256 * 1024, 32 * 1024, 16 * 1024 * 1024),
    maxInFlight: integer(env, "KEYHOLD_XKI_MAX_IN_FLIGHT", 1024, 1, 100_000),
    fleetSize: integer(env, "KEYHOLD_XKI_FLEET_SIZE", 1, 1, 10_000),
    ekmVendor: text(env, "KEYHOLD_XKI_EKM_VENDOR") ?? "PKCS#11",
    ekmModel: text(env, "KEYHOLD_XKI_EKM_MODEL") ?? "",
    adminListen: adminAddr === undefined ? undefined : listen(env, "KEYHOLD_XKI_ADMIN_ADDR", adminAddr),
    adminToken: adminTokenValue === undefined ? undefined : new AdminToken(adminTokenValue),
    logLevel,
  };
}

/** The prefixes' configured credentials, as read from KEYHOLD_XKI_CREDENTIALS_FILE. */
export interface ConfiguredPrefix {
  readonly prefix: string;
  readonly credentials: readonly { readonly accessKeyId: string; readonly secretAccessKey: string }[];
}

export const ACCESS_KEY_ID = /^[A-Za-z0-9_-]{4,128}$/;
export const SECRET_ACCESS_KEY = /^[\x21-\x7e]{32,256}$/;

/**
 * The credentials file: {"prefixes": [{"prefix": "tenant-a", "credentials": [{"accessKeyId":
 * "…", "secretAccessKey": "…"}]}]}. A prefix may list no credentials (then only admin-added
 * ones are accepted). Without a file, the proxy serves the empty prefix only.
 */
export function readCredentialsFile(path: string | undefined): ConfiguredPrefix[] {
  if (path === undefined) return [{ prefix: "", credentials: [] }];
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`KEYHOLD_XKI_CREDENTIALS_FILE cannot be read as JSON (${(error as NodeJS.ErrnoException).code ?? "invalid JSON"})`);
  }
  const prefixes = (json as { prefixes?: unknown } | null)?.prefixes;
  if (!Array.isArray(prefixes) || prefixes.length === 0) throw new ConfigError("KEYHOLD_XKI_CREDENTIALS_FILE: prefixes must be a non-empty array");
  const seen = new Set<string>();
  const seenKeys = new Set<string>();
  return prefixes.map((entry: unknown, i): ConfiguredPrefix => {
    const where = `KEYHOLD_XKI_CREDENTIALS_FILE: prefixes[${i}]`;
    const raw = (entry as { prefix?: unknown } | null)?.prefix ?? "";
    if (typeof raw !== "string") throw new ConfigError(`${where}.prefix must be a string`);
    let prefix: string;
    try {
      prefix = normalizePrefix(raw);
    } catch {
      throw new ConfigError(`${where}.prefix must be [A-Za-z0-9/_-] and short enough for a 128-character XKS path`);
    }
    if (seen.has(prefix)) throw new ConfigError(`${where}.prefix "${prefix}" is listed twice`);
    seen.add(prefix);
    const list = (entry as { credentials?: unknown }).credentials ?? [];
    if (!Array.isArray(list)) throw new ConfigError(`${where}.credentials must be an array`);
    const credentials = list.map((credential: unknown, j) => {
      const { accessKeyId, secretAccessKey } = (credential ?? {}) as { accessKeyId?: unknown; secretAccessKey?: unknown };
      if (typeof accessKeyId !== "string" || !ACCESS_KEY_ID.test(accessKeyId)) throw new ConfigError(`${where}.credentials[${j}].accessKeyId must be 4-128 of [A-Za-z0-9_-]`);
      // The message never includes the secret.
      if (typeof secretAccessKey !== "string" || !SECRET_ACCESS_KEY.test(secretAccessKey)) throw new ConfigError(`${where}.credentials[${j}].secretAccessKey must be 32-256 printable ASCII characters`);
      if (seenKeys.has(`${prefix}/${accessKeyId}`)) throw new ConfigError(`${where}.credentials[${j}].accessKeyId is listed twice`);
      seenKeys.add(`${prefix}/${accessKeyId}`);
      return { accessKeyId, secretAccessKey };
    });
    return { prefix, credentials };
  });
}
