// Settings every Keyhold server shares, read from an environment map handed in by the
// service's config.ts (the only place that touches process.env).
import type { LogLevel } from "./logger.ts";
import type { ListenAddress } from "./server.ts";

export interface ServerConfig {
  readonly grpc: ListenAddress;
  readonly http: ListenAddress;
  readonly logLevel: LogLevel;
  readonly maxMessageBytes: number;
  readonly corsOrigins: readonly string[];
  readonly shutdownGraceMs: number;
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
  };
}
