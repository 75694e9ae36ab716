// The only reader of the environment for the keyhold command.
import { join, resolve } from "node:path";
import { readKeyServiceConfig, type KeyServiceConfig } from "@keyhold/key-service";
import { readPolicyServiceConfig, type PolicyServiceConfig } from "@keyhold/policy-service";
import { readServerConfig, type ServerConfig } from "@keyhold/server-kit";

export interface DevConfig {
  readonly dataDir: string;
  readonly server: ServerConfig;
  readonly keyService: KeyServiceConfig;
  readonly policyService: PolicyServiceConfig;
  /** Where `keyhold dev` writes a generated administrator API key (mode 0600). */
  readonly adminKeyFile: string;
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
    adminKeyFile: join(dataDir, "admin-api-key"),
  };
}

export function loadDevConfig(): DevConfig {
  return readDevConfig(process.env, process.cwd());
}
