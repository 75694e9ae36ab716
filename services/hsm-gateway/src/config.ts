// The only reader of the environment for hsm-gateway: typed, validated, defaults in one place.
// The PIN comes from a file (KEYHOLD_HSM_PIN_FILE, preferred) or the environment
// (KEYHOLD_HSM_PIN); it is held in a HsmPin, whose printed and JSON forms hide it, and is never logged.
import { readFileSync } from "node:fs";
import { HsmPin, type TokenSelector } from "@keyhold/pkcs11";
import { ConfigError, integerSetting, type Environment } from "@keyhold/server-kit";

export { HsmPin } from "@keyhold/pkcs11";
export type { TokenSelector } from "@keyhold/pkcs11";

export { ConfigError };
export type { Environment };

export interface HsmGatewayConfig {
  /** Path of the PKCS#11 module (shared library). */
  readonly modulePath: string;
  readonly token: TokenSelector;
  readonly pin: HsmPin;
  /** Most sessions open at once (besides the one that holds the login). */
  readonly poolSize: number;
  /** Longest a call may take, waiting for a session included (a caller's shorter deadline wins). */
  readonly callTimeoutMs: number;
  /** Shortest time between two attempts to reconnect to a lost token. */
  readonly reconnectIntervalMs: number;
}

/** Whether an HSM module is configured (KEYHOLD_HSM_MODULE set): without one the gateway does not start. */
export function hsmConfigured(env: Environment): boolean {
  return (env["KEYHOLD_HSM_MODULE"] ?? "") !== "";
}

const positiveInteger = (env: Environment, name: string, fallback: number, max: number): number => integerSetting(env, name, fallback, { min: 1, max });

export function readHsmGatewayConfig(env: Environment): HsmGatewayConfig {
  const modulePath = env["KEYHOLD_HSM_MODULE"] ?? "";
  if (modulePath === "") throw new ConfigError("KEYHOLD_HSM_MODULE (the PKCS#11 module path) is required");
  const label = env["KEYHOLD_HSM_TOKEN_LABEL"] ?? "";
  const slotRaw = env["KEYHOLD_HSM_SLOT"] ?? "";
  if ((label === "") === (slotRaw === "")) throw new ConfigError("set exactly one of KEYHOLD_HSM_TOKEN_LABEL and KEYHOLD_HSM_SLOT");
  let token: TokenSelector;
  if (label !== "") {
    if (label.length > 32) throw new ConfigError("KEYHOLD_HSM_TOKEN_LABEL must be at most 32 characters");
    token = { label };
  } else {
    const slot = Number(slotRaw);
    if (!Number.isSafeInteger(slot) || slot < 0) throw new ConfigError(`KEYHOLD_HSM_SLOT must be a non-negative integer, got "${slotRaw}"`);
    token = { slot };
  }
  return {
    modulePath,
    token,
    pin: readPin(env),
    poolSize: positiveInteger(env, "KEYHOLD_HSM_POOL_SIZE", 8, 1024),
    callTimeoutMs: positiveInteger(env, "KEYHOLD_HSM_CALL_TIMEOUT_MS", 10_000, 600_000),
    reconnectIntervalMs: positiveInteger(env, "KEYHOLD_HSM_RECONNECT_INTERVAL_MS", 500, 60_000),
  };
}

function readPin(env: Environment): HsmPin {
  const file = env["KEYHOLD_HSM_PIN_FILE"] ?? "";
  const direct = env["KEYHOLD_HSM_PIN"] ?? "";
  if (file !== "" && direct !== "") throw new ConfigError("set only one of KEYHOLD_HSM_PIN_FILE and KEYHOLD_HSM_PIN");
  let pin: string;
  if (file !== "") {
    try {
      pin = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (error) {
      throw new ConfigError(`KEYHOLD_HSM_PIN_FILE cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
  } else {
    pin = direct;
  }
  // The message never includes the value.
  if (pin === "") throw new ConfigError("the token user PIN is required: KEYHOLD_HSM_PIN_FILE or KEYHOLD_HSM_PIN");
  if (pin.length > 255) throw new ConfigError("the token user PIN is longer than 255 characters");
  return new HsmPin(pin);
}
