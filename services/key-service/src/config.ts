// The only reader of the environment for key-service: typed, validated, defaults in one place.
import { availableParallelism } from "node:os";
import { join } from "node:path";

export interface KeyServiceConfig {
  /** Region segment of every krn. */
  readonly region: string;
  /** SQLite database file. */
  readonly databasePath: string;
  /** Development root key file (until an HSM root key is configured). */
  readonly rootKeyFile: string;
  /**
   * KEYHOLD_ROOT_KEY: "file" (default: the development key file, auto-unsealed) or "sealed"
   * (split with Shamir's secret sharing by `keyhold seal init`; starts sealed).
   */
  readonly rootKeyMode: "file" | "sealed";
  /** The sealed root key's seal file (verifier and split parameters; no secret). */
  readonly sealFile: string;
  /** The management account: only its principals may unseal and seal. */
  readonly managementAccountId: string;
  /** How many unwrapped key versions stay in memory. */
  readonly materialCacheSize: number;
  /** How many key, version and alias records stay in memory (each). */
  readonly recordCacheSize: number;
  /** How often the background jobs (rotation, deletion, material expiry) run. */
  readonly jobIntervalMs: number;
  /** Worker threads for private-key operations. */
  readonly privateKeyWorkers: number;
}

export type Environment = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export function positiveInteger(env: Environment, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

export function readKeyServiceConfig(env: Environment, dataDir: string): KeyServiceConfig {
  const region = env["KEYHOLD_REGION"] ?? "local";
  if (!/^[a-z0-9-]{1,32}$/.test(region)) throw new ConfigError(`KEYHOLD_REGION must be lower-case letters, digits and '-'`);
  const rootKeyMode = env["KEYHOLD_ROOT_KEY"] ?? "file";
  if (rootKeyMode !== "file" && rootKeyMode !== "sealed") throw new ConfigError(`KEYHOLD_ROOT_KEY must be "file" or "sealed", got "${rootKeyMode}"`);
  const managementAccountId = env["KEYHOLD_MANAGEMENT_ACCOUNT_ID"] ?? "000000000001";
  if (!/^\d{12}$/.test(managementAccountId)) throw new ConfigError("KEYHOLD_MANAGEMENT_ACCOUNT_ID must be 12 digits");
  return {
    region,
    rootKeyMode,
    sealFile: env["KEYHOLD_SEAL_FILE"] ?? join(dataDir, "seal.json"),
    managementAccountId,
    databasePath: env["KEYHOLD_KEY_DB"] ?? join(dataDir, "key-service.sqlite"),
    rootKeyFile: env["KEYHOLD_ROOT_KEY_FILE"] ?? join(dataDir, "root-key.bin"),
    materialCacheSize: positiveInteger(env, "KEYHOLD_MATERIAL_CACHE_SIZE", 10_000),
    recordCacheSize: positiveInteger(env, "KEYHOLD_RECORD_CACHE_SIZE", 50_000),
    jobIntervalMs: positiveInteger(env, "KEYHOLD_KEY_JOB_INTERVAL_MS", 60_000),
    privateKeyWorkers: positiveInteger(env, "KEYHOLD_PRIVATE_KEY_WORKERS", Math.max(1, Math.min(4, availableParallelism()))),
  };
}
