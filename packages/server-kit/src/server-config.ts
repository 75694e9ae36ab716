// Settings every Keyhold server shares, read from an environment map handed in by the
// service's config.ts (the only place that touches process.env).
import { AddressListError, validateAddressList } from "./address-list.ts";
import type { LogLevel } from "./logger.ts";
import type { ListenAddress } from "./server.ts";
import type { ServerTlsOptions } from "./tls.ts";

export interface ServerConfig {
  readonly grpc: ListenAddress;
  readonly http: ListenAddress;
  readonly logLevel: LogLevel;
  readonly maxMessageBytes: number;
  readonly corsOrigins: readonly string[];
  readonly shutdownGraceMs: number;
  /** TLS on both front doors; undefined: plaintext. */
  readonly tls: ServerTlsOptions | undefined;
  /**
   * IPs / CIDR ranges of mesh sidecars whose x-forwarded-client-cert header is honoured as the
   * caller's certificate identity (from any other peer it is ignored). Empty by default.
   */
  readonly trustedProxies: readonly string[];
  /**
   * KEYHOLD_REUSE_PORT (default false): listen with SO_REUSEPORT, so replicas of a service on one
   * machine share its addresses and the kernel spreads connections among them.
   */
  readonly reusePort: boolean;
}

export class ServerConfigError extends Error {
  override readonly name = "ServerConfigError";
}

export function parseListenAddress(name: string, value: string): ListenAddress {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(value);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || !(port >= 0 && port <= 65535)) throw new ServerConfigError(`${name} must be host:port, got "${value}"`);
  return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
}

function integer(env: Readonly<Record<string, string | undefined>>, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ServerConfigError(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

function boolean(env: Readonly<Record<string, string | undefined>>, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ServerConfigError(`${name} must be true or false`);
}

function nonEmpty(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === "" ? undefined : raw;
}

function readTls(env: Readonly<Record<string, string | undefined>>): ServerTlsOptions | undefined {
  const certFile = nonEmpty(env, "KEYHOLD_TLS_CERT_FILE");
  const keyFile = nonEmpty(env, "KEYHOLD_TLS_KEY_FILE");
  const clientCaFile = nonEmpty(env, "KEYHOLD_TLS_CLIENT_CA_FILE");
  const requireClientCert = boolean(env, "KEYHOLD_TLS_REQUIRE_CLIENT_CERT", false);
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined || requireClientCert) {
      throw new ServerConfigError("KEYHOLD_TLS_CLIENT_CA_FILE and KEYHOLD_TLS_REQUIRE_CLIENT_CERT need TLS: set KEYHOLD_TLS_CERT_FILE and KEYHOLD_TLS_KEY_FILE");
    }
    return undefined;
  }
  if (certFile === undefined || keyFile === undefined) throw new ServerConfigError("KEYHOLD_TLS_CERT_FILE and KEYHOLD_TLS_KEY_FILE must be set together");
  if (requireClientCert && clientCaFile === undefined) throw new ServerConfigError("KEYHOLD_TLS_REQUIRE_CLIENT_CERT=true needs KEYHOLD_TLS_CLIENT_CA_FILE");
  return { certFile, keyFile, ...(clientCaFile === undefined ? {} : { clientCaFile }), requireClientCert };
}

function readTrustedProxies(env: Readonly<Record<string, string | undefined>>): readonly string[] {
  const entries = (env["KEYHOLD_TRUSTED_PROXIES"] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  try {
    validateAddressList(entries);
  } catch (error) {
    if (error instanceof AddressListError) throw new ServerConfigError(`KEYHOLD_TRUSTED_PROXIES: ${error.message}`);
    throw error;
  }
  return entries;
}

export interface ServerConfigDefaults {
  readonly grpc: string;
  readonly http: string;
}

export function readServerConfig(env: Readonly<Record<string, string | undefined>>, defaults: ServerConfigDefaults): ServerConfig {
  const level = env["KEYHOLD_LOG_LEVEL"] ?? "info";
  if (!["debug", "info", "warn", "error"].includes(level)) throw new ServerConfigError("KEYHOLD_LOG_LEVEL must be debug, info, warn or error");
  return {
    grpc: parseListenAddress("KEYHOLD_GRPC_ADDR", env["KEYHOLD_GRPC_ADDR"] ?? defaults.grpc),
    http: parseListenAddress("KEYHOLD_HTTP_ADDR", env["KEYHOLD_HTTP_ADDR"] ?? defaults.http),
    logLevel: level as LogLevel,
    maxMessageBytes: integer(env, "KEYHOLD_MAX_MESSAGE_BYTES", 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
    corsOrigins: (env["KEYHOLD_CORS_ORIGINS"] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== ""),
    shutdownGraceMs: integer(env, "KEYHOLD_SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    tls: readTls(env),
    trustedProxies: readTrustedProxies(env),
    reusePort: boolean(env, "KEYHOLD_REUSE_PORT", false),
  };
}
