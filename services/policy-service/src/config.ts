// The only reader of the environment for policy-service: typed, validated, defaults in one place.
import { join } from "node:path";
import { isWellFormedToken } from "./domain/credentials.ts";
import { isAccountId } from "./domain/names.ts";
import { ConfigError, integerSetting, type Environment } from "@keyhold/server-kit";

export interface PolicyServiceConfig {
  /** Region segment of krns this service builds. */
  readonly region: string;
  /** SQLite database file (when no databaseUrl). */
  readonly databasePath: string;
  /**
   * KEYHOLD_DATABASE_URL: a postgres:// URL of the database replicas share (schema
   * policy_service); undefined for the SQLite file. Holds a password: never logged.
   */
  readonly databaseUrl: string | undefined;
  /** The account whose administrators may create accounts; created on first start. */
  readonly managementAccountId: string;
  /** The bootstrap administrator's API key, when configured rather than generated. Never logged. */
  readonly bootstrapApiKey: string | undefined;
  /** How long callers may cache an API key's Authenticate answer (change events flush sooner). */
  readonly credentialCacheSeconds: number;
}

export { ConfigError };
export type { Environment };

const positiveInteger = (env: Environment, name: string, fallback: number): number => integerSetting(env, name, fallback, { min: 1 });

export function readPolicyServiceConfig(env: Environment, dataDir: string): PolicyServiceConfig {
  const region = env["KEYHOLD_REGION"] ?? "local";
  if (!/^[a-z0-9-]{1,32}$/.test(region)) throw new ConfigError("KEYHOLD_REGION must be lower-case letters, digits and '-'");
  const managementAccountId = env["KEYHOLD_MANAGEMENT_ACCOUNT_ID"] ?? "000000000001";
  if (!isAccountId(managementAccountId)) throw new ConfigError("KEYHOLD_MANAGEMENT_ACCOUNT_ID must be 12 digits");
  const bootstrap = env["KEYHOLD_BOOTSTRAP_API_KEY"];
  const bootstrapApiKey = bootstrap === undefined || bootstrap === "" ? undefined : bootstrap;
  if (bootstrapApiKey !== undefined && !isWellFormedToken(bootstrapApiKey, "api-key")) {
    // The value itself is a secret: never echo it.
    throw new ConfigError("KEYHOLD_BOOTSTRAP_API_KEY must be an API key as Keyhold generates them: khk_<16 hex digits>_<43 base64url characters>");
  }
  const databaseUrl = env["KEYHOLD_DATABASE_URL"] === "" ? undefined : env["KEYHOLD_DATABASE_URL"];
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/./.test(databaseUrl)) {
    // The value may hold a password: never echo it.
    throw new ConfigError("KEYHOLD_DATABASE_URL must be a postgres:// or postgresql:// URL");
  }
  return {
    region,
    databasePath: env["KEYHOLD_POLICY_DB"] ?? join(dataDir, "policy-service.sqlite"),
    databaseUrl,
    managementAccountId,
    bootstrapApiKey,
    credentialCacheSeconds: positiveInteger(env, "KEYHOLD_CREDENTIAL_CACHE_SECONDS", 300),
  };
}
