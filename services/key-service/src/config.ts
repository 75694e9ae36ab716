// The only reader of the environment for key-service: typed, validated, defaults in one place.
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { ConfigError, integerSetting, type Environment } from "@keyhold/server-kit";

export interface KeyServiceConfig {
  /** Region segment of every krn. */
  readonly region: string;
  /** SQLite database file (used while databaseUrl is unset). */
  readonly databasePath: string;
  /**
   * KEYHOLD_DATABASE_URL: postgres://... of the PostgreSQL database replicas share (schema
   * key_service); undefined: the SQLite file. Holds a credential: never log it.
   */
  readonly databaseUrl: string | undefined;
  /** Development root key file (the root of trust when rootKey is "file"). */
  readonly rootKeyFile: string;
  /**
   * KEYHOLD_ROOT_KEY: which root of trust wraps software key material. "file" (default): the
   * local key file, development only (auto-unsealed). "hsm": a non-extractable AES-256 key in
   * the HSM, through hsm-gateway (needs an HSM configured). "sealed": split with Shamir's secret
   * sharing by `keyhold seal init`; key-service starts sealed.
   */
  readonly rootKey: RootKeyKind;
  /** KEYHOLD_ROOT_KEY_HSM_ID: the id (CKA_ID and CKA_LABEL) of the HSM root key in the token. */
  readonly hsmRootKeyId: string;
  /** The sealed root key's seal file (verifier and split parameters; no secret). */
  readonly sealFile: string;
  /** The management account: only its principals may unseal and seal. */
  readonly managementAccountId: string;
  /** How many unwrapped key versions stay in memory. */
  readonly materialCacheSize: number;
  /** How many key, version and alias records stay in memory (each). */
  readonly recordCacheSize: number;
  /**
   * KEYHOLD_RECORD_CACHE_TTL_MS: how long a cached key, version or alias record is used at most
   * (replicas also invalidate each other through the bus; this bounds a lost message).
   */
  readonly recordCacheTtlMs: number;
  /** How often the background jobs (rotation, deletion, material expiry) run. */
  readonly jobIntervalMs: number;
  /** Worker threads for private-key operations. */
  readonly privateKeyWorkers: number;
  /** Deadline of each request to an XKS proxy (AWS KMS: 250 ms). KEYHOLD_XKS_TIMEOUT_MS. */
  readonly xksTimeoutMs: number;
  /** Deadline of the health check ConnectExternalKeyStore makes. KEYHOLD_XKS_CONNECT_TIMEOUT_MS. */
  readonly xksConnectTimeoutMs: number;
  /** How long a key's availability, learnt from its proxy, is trusted before GetKey checks again. */
  readonly xksHealthCacheMs: number;
}

export type RootKeyKind = "file" | "hsm" | "sealed";

export const DEFAULT_HSM_ROOT_KEY_ID = "keyhold-root-key";

export { ConfigError };
export type { Environment };

export const positiveInteger = (env: Environment, name: string, fallback: number): number => integerSetting(env, name, fallback, { min: 1 });

export function readKeyServiceConfig(env: Environment, dataDir: string): KeyServiceConfig {
  const region = env["KEYHOLD_REGION"] ?? "local";
  if (!/^[a-z0-9-]{1,32}$/.test(region)) throw new ConfigError(`KEYHOLD_REGION must be lower-case letters, digits and '-'`);
  const managementAccountId = env["KEYHOLD_MANAGEMENT_ACCOUNT_ID"] ?? "000000000001";
  if (!/^\d{12}$/.test(managementAccountId)) throw new ConfigError("KEYHOLD_MANAGEMENT_ACCOUNT_ID must be 12 digits");
  return {
    region,
    sealFile: env["KEYHOLD_SEAL_FILE"] ?? join(dataDir, "seal.json"),
    managementAccountId,
    databasePath: env["KEYHOLD_KEY_DB"] ?? join(dataDir, "key-service.sqlite"),
    databaseUrl: databaseUrl(env["KEYHOLD_DATABASE_URL"]),
    rootKeyFile: env["KEYHOLD_ROOT_KEY_FILE"] ?? join(dataDir, "root-key.bin"),
    rootKey: rootKeyKind(env["KEYHOLD_ROOT_KEY"]),
    hsmRootKeyId: hsmRootKeyId(env["KEYHOLD_ROOT_KEY_HSM_ID"]),
    materialCacheSize: positiveInteger(env, "KEYHOLD_MATERIAL_CACHE_SIZE", 10_000),
    recordCacheSize: positiveInteger(env, "KEYHOLD_RECORD_CACHE_SIZE", 50_000),
    recordCacheTtlMs: positiveInteger(env, "KEYHOLD_RECORD_CACHE_TTL_MS", 30_000),
    jobIntervalMs: positiveInteger(env, "KEYHOLD_KEY_JOB_INTERVAL_MS", 60_000),
    privateKeyWorkers: positiveInteger(env, "KEYHOLD_PRIVATE_KEY_WORKERS", Math.max(1, Math.min(4, availableParallelism()))),
    xksTimeoutMs: positiveInteger(env, "KEYHOLD_XKS_TIMEOUT_MS", 250),
    xksConnectTimeoutMs: positiveInteger(env, "KEYHOLD_XKS_CONNECT_TIMEOUT_MS", 2000),
    xksHealthCacheMs: positiveInteger(env, "KEYHOLD_XKS_HEALTH_CACHE_MS", 5000),
  };
}

function databaseUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === "") return undefined;
  // The value is not repeated in the message: it carries the database password.
  if (!/^postgres(ql)?:\/\/[^\s]+$/.test(raw)) throw new ConfigError("KEYHOLD_DATABASE_URL must be a postgres:// or postgresql:// URL");
  return raw;
}

function rootKeyKind(raw: string | undefined): RootKeyKind {
  if (raw === undefined || raw === "" || raw === "file") return "file";
  if (raw === "hsm" || raw === "sealed") return raw;
  throw new ConfigError(`KEYHOLD_ROOT_KEY must be file, hsm or sealed, got "${raw}"`);
}

function hsmRootKeyId(raw: string | undefined): string {
  if (raw === undefined || raw === "") return DEFAULT_HSM_ROOT_KEY_ID;
  if (!/^[A-Za-z0-9._:/-]{1,64}$/.test(raw)) {
    throw new ConfigError(`KEYHOLD_ROOT_KEY_HSM_ID must be 1 to 64 letters, digits, '.', '_', '-', ':' or '/', got "${raw}"`);
  }
  return raw;
}
