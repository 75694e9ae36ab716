// The only reader of the environment for audit-service: typed, validated, defaults in one place.
import { join } from "node:path";
import { ConfigError, integerSetting, type Environment } from "@keyhold/server-kit";

export interface AuditServiceConfig {
  /** Region segment of the log's krn (krn:keyhold:audit:<region>:<account>:log). */
  readonly region: string;
  /** The account whose principals (when authorized) see every account's events. */
  readonly managementAccountId: string;
  /**
   * PostgreSQL server of the log (KEYHOLD_DATABASE_URL, postgres://...), shared by every
   * audit-service replica, in schema audit_service; undefined: the SQLite file databasePath.
   */
  readonly databaseUrl: string | undefined;
  /** SQLite database file of the log (when databaseUrl is not set). */
  readonly databasePath: string;
  /** The checkpoint signing key (Ed25519, PKCS#8 PEM), created 0600 on first start. */
  readonly signingKeyFile: string;
  /** How often a checkpoint is signed when the log grew (0: only on demand and at shutdown). */
  readonly checkpointIntervalMs: number;
  /** Records older than this many days are pruned (0: keep everything). */
  readonly retentionDays: number;
  /** How often retention runs. */
  readonly pruneIntervalMs: number;
  /**
   * Nice value (0 to 19) of the log writer thread, on Linux: it yields the CPU to the threads
   * answering calls, and catches up from the outboxes when there is room (0: same priority).
   */
  readonly writerNice: number;
}

/** audit-service's PostgreSQL schema (every service has its own). */
export const POSTGRES_SCHEMA = "audit_service";

/** The log writer thread's default nice value: well below the call-serving threads, never starved. */
export const DEFAULT_WRITER_NICE = 10;

export { ConfigError };
export type { Environment };

const nonNegativeInteger = (env: Environment, name: string, fallback: number): number => integerSetting(env, name, fallback);

export function readAuditServiceConfig(env: Environment, dataDir: string): AuditServiceConfig {
  const region = env["KEYHOLD_REGION"] ?? "local";
  if (!/^[a-z0-9-]{1,32}$/.test(region)) throw new ConfigError("KEYHOLD_REGION must be lower-case letters, digits and '-'");
  const managementAccountId = env["KEYHOLD_MANAGEMENT_ACCOUNT_ID"] ?? "000000000001";
  if (!/^[0-9]{12}$/.test(managementAccountId)) throw new ConfigError("KEYHOLD_MANAGEMENT_ACCOUNT_ID must be 12 digits");
  const pruneSeconds = nonNegativeInteger(env, "KEYHOLD_AUDIT_PRUNE_INTERVAL_SECONDS", 3600);
  if (pruneSeconds === 0) throw new ConfigError("KEYHOLD_AUDIT_PRUNE_INTERVAL_SECONDS must be a positive integer");
  const writerNice = nonNegativeInteger(env, "KEYHOLD_AUDIT_WRITER_NICE", DEFAULT_WRITER_NICE);
  if (writerNice > 19) throw new ConfigError(`KEYHOLD_AUDIT_WRITER_NICE must be an integer from 0 to 19, got "${env["KEYHOLD_AUDIT_WRITER_NICE"]}"`);
  const databaseUrl = env["KEYHOLD_DATABASE_URL"] === "" ? undefined : env["KEYHOLD_DATABASE_URL"];
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/[^\s]+$/.test(databaseUrl)) throw new ConfigError("KEYHOLD_DATABASE_URL must be a postgres:// URL");
  return {
    region,
    managementAccountId,
    databaseUrl,
    databasePath: env["KEYHOLD_AUDIT_DB"] ?? join(dataDir, "audit-service.sqlite"),
    signingKeyFile: env["KEYHOLD_AUDIT_SIGNING_KEY_FILE"] ?? join(dataDir, "audit-checkpoint-key.pem"),
    checkpointIntervalMs: nonNegativeInteger(env, "KEYHOLD_AUDIT_CHECKPOINT_INTERVAL_SECONDS", 10) * 1000,
    retentionDays: nonNegativeInteger(env, "KEYHOLD_AUDIT_RETENTION_DAYS", 0),
    pruneIntervalMs: pruneSeconds * 1000,
    writerNice,
  };
}
