// The only reader of the environment for secrets-service: typed, validated, defaults in one place.
import { join } from "node:path";
import { ConfigError, integerSetting, RedactedSecret, type Environment } from "@keyhold/server-kit";

export interface SecretsServiceConfig {
  /** Region segment of every krn. */
  readonly region: string;
  /** SQLite database file (when no PostgreSQL database is configured). */
  readonly databasePath: string;
  /**
   * KEYHOLD_DATABASE_URL: the PostgreSQL database replicas share (schema secrets_service), or
   * undefined for the SQLite file. Holds a password: redacted when printed.
   */
  readonly databaseUrl: RedactedSecret | undefined;
  /** Versions kept per secret: beyond it, the oldest versions without a label are removed (AWS: 100). */
  readonly maxVersionsPerSecret: number;
  /** Stage labels attached across all versions of a secret (AWS: 20). */
  readonly maxLabelsPerSecret: number;
  /** How often the scheduler looks for due rotations and purges. */
  readonly schedulerIntervalMs: number;
  /** How long a started rotation holds its secret (a crash releases it after this). */
  readonly rotationLeaseMs: number;
  /** How long one rotation step may take (a RotationHandler call, a database statement). */
  readonly rotationStepTimeoutMs: number;
  /**
   * How long a version's plaintext data key stays in memory after a read (0: never cached). The
   * caller's kms:Decrypt permission is checked on every read; disabling the key takes effect
   * for cached data keys within this time.
   */
  readonly dataKeyCacheMs: number;
  /** At most this many cached data keys. */
  readonly dataKeyCacheSize: number;
  /**
   * KEYHOLD_SECRETS_CACHE_TTL_MS: how long a cached secret record (metadata, labels, tags, sealed
   * versions: never a plaintext value or data key) is used at most, 0: no cache. Bounds how stale
   * a replica can be when an invalidation message over the bus is lost.
   */
  readonly recordCacheTtlMs: number;
  /** KEYHOLD_SECRETS_CACHE_SIZE: at most this many secrets in the record cache. */
  readonly recordCacheSize: number;
}

export { ConfigError };
export type { Environment };

const nonNegativeInteger = (env: Environment, name: string, fallback: number): number => integerSetting(env, name, fallback);

const positiveInteger = (env: Environment, name: string, fallback: number): number => integerSetting(env, name, fallback, { min: 1 });

export function readSecretsServiceConfig(env: Environment, dataDir: string): SecretsServiceConfig {
  const region = env["KEYHOLD_REGION"] ?? "local";
  if (!/^[a-z0-9-]{1,32}$/.test(region)) throw new ConfigError(`KEYHOLD_REGION must be lower-case letters, digits and '-'`);
  const maxVersionsPerSecret = positiveInteger(env, "KEYHOLD_SECRETS_MAX_VERSIONS", 100);
  if (maxVersionsPerSecret < 3) throw new ConfigError("KEYHOLD_SECRETS_MAX_VERSIONS must be at least 3 (CURRENT, PREVIOUS and PENDING)");
  const maxLabelsPerSecret = positiveInteger(env, "KEYHOLD_SECRETS_MAX_LABELS", 20);
  if (maxLabelsPerSecret < 3) throw new ConfigError("KEYHOLD_SECRETS_MAX_LABELS must be at least 3 (CURRENT, PREVIOUS and PENDING)");
  const databaseUrl = env["KEYHOLD_DATABASE_URL"];
  if (databaseUrl !== undefined && databaseUrl !== "" && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError("KEYHOLD_DATABASE_URL must be a postgres:// or postgresql:// URL");
  }
  return {
    region,
    databaseUrl: databaseUrl === undefined || databaseUrl === "" ? undefined : new RedactedSecret(databaseUrl, "DatabaseUrl"),
    databasePath: env["KEYHOLD_SECRETS_DB"] ?? join(dataDir, "secrets-service.sqlite"),
    maxVersionsPerSecret,
    maxLabelsPerSecret,
    schedulerIntervalMs: positiveInteger(env, "KEYHOLD_SECRETS_SCHEDULER_INTERVAL_MS", 60_000),
    rotationLeaseMs: positiveInteger(env, "KEYHOLD_SECRETS_ROTATION_LEASE_MS", 15 * 60_000),
    rotationStepTimeoutMs: positiveInteger(env, "KEYHOLD_SECRETS_ROTATION_STEP_TIMEOUT_MS", 60_000),
    dataKeyCacheMs: nonNegativeInteger(env, "KEYHOLD_SECRETS_DATA_KEY_CACHE_MS", 5_000),
    dataKeyCacheSize: positiveInteger(env, "KEYHOLD_SECRETS_DATA_KEY_CACHE_SIZE", 10_000),
    recordCacheTtlMs: nonNegativeInteger(env, "KEYHOLD_SECRETS_CACHE_TTL_MS", 30_000),
    recordCacheSize: positiveInteger(env, "KEYHOLD_SECRETS_CACHE_SIZE", 10_000),
  };
}
