// The only reader of the environment for the keyhold command.
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { readAuditServiceConfig, type AuditServiceConfig } from "@keyhold/audit-service";
import { readCoordinationConfig, type CoordinationConfig } from "@keyhold/coordination";
import { hsmConfigured, readHsmGatewayConfig, type HsmGatewayConfig } from "@keyhold/hsm-gateway";
import { readKeyServiceConfig, type KeyServiceConfig } from "@keyhold/key-service";
import { readPolicyServiceConfig, type PolicyServiceConfig } from "@keyhold/policy-service";
import { readSecretsServiceConfig, type SecretsServiceConfig } from "@keyhold/secrets-service";
import { readOrCreateSecretFile, readServerConfig, readTelemetryConfig, type ServerConfig, type TelemetryConfig } from "@keyhold/server-kit";

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
