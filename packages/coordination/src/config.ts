// Reading of the coordination settings (called by a service's or the CLI's config.ts, the only
// readers of the environment): where Redis is, how long a Redis command may take, and the
// request quotas. Quotas are off unless configured: with neither KEYHOLD_QUOTAS_FILE nor any
// KEYHOLD_QUOTA_<CLASS>_RPS set nothing is limited (what `keyhold dev` wants); a class without
// a rate stays unlimited.
import { readFileSync } from "node:fs";
import { ConfigError, integerSetting, type Environment } from "@keyhold/server-kit";
import { isOperationClass, OPERATION_CLASSES, type OperationClass } from "./operation-classes.ts";

/** A token bucket: `ratePerSecond` tokens refill per second, up to `burst`. */
export interface Quota {
  readonly ratePerSecond: number;
  readonly burst: number;
}

export type ClassQuotas = Readonly<Partial<Record<OperationClass, Quota>>>;

export interface QuotaConfig {
  /** The quota of each class for every account (a missing class is unlimited). */
  readonly defaults: ClassQuotas;
  /** Per account id: quotas replacing the defaults class by class. */
  readonly accounts: Readonly<Record<string, ClassQuotas>>;
}

export interface CoordinationConfig {
  /** KEYHOLD_REDIS_URL (redis:// or rediss://); undefined: in-process coordination. */
  readonly redisUrl: string | undefined;
  /** KEYHOLD_REDIS_COMMAND_TIMEOUT_MS: how long one Redis command may take before the fallback. */
  readonly commandTimeoutMs: number;
  /** KEYHOLD_REDIS_CONNECT_TIMEOUT_MS. */
  readonly connectTimeoutMs: number;
  readonly quotas: QuotaConfig;
}

export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 50;
export const DEFAULT_REDIS_CONNECT_TIMEOUT_MS = 1000;

export function readCoordinationConfig(env: Environment): CoordinationConfig {
  const redisUrl = env["KEYHOLD_REDIS_URL"];
  if (redisUrl !== undefined && redisUrl !== "" && !/^rediss?:\/\//.test(redisUrl)) {
    // The value may hold a password: never echoed.
    throw new ConfigError("KEYHOLD_REDIS_URL must start with redis:// or rediss://");
  }
  return {
    redisUrl: redisUrl === undefined || redisUrl === "" ? undefined : redisUrl,
    commandTimeoutMs: integerSetting(env, "KEYHOLD_REDIS_COMMAND_TIMEOUT_MS", DEFAULT_REDIS_COMMAND_TIMEOUT_MS, { min: 1, max: 10_000 }),
    connectTimeoutMs: integerSetting(env, "KEYHOLD_REDIS_CONNECT_TIMEOUT_MS", DEFAULT_REDIS_CONNECT_TIMEOUT_MS, { min: 1, max: 60_000 }),
    quotas: readQuotaConfig(env),
  };
}

/**
 * KEYHOLD_QUOTAS_FILE (JSON, see docs/coordination.md), then KEYHOLD_QUOTA_<CLASS>_RPS and
 * KEYHOLD_QUOTA_<CLASS>_BURST (default burst: twice the rate), which override the file's defaults.
 */
export function readQuotaConfig(env: Environment): QuotaConfig {
  const file = env["KEYHOLD_QUOTAS_FILE"];
  const fromFile = file === undefined || file === "" ? { defaults: {}, accounts: {} } : parseQuotaFile(readQuotaFile(file), "KEYHOLD_QUOTAS_FILE");
  const defaults: Partial<Record<OperationClass, Quota>> = { ...fromFile.defaults };
  for (const cls of OPERATION_CLASSES) {
    const name = `KEYHOLD_QUOTA_${cls.toUpperCase()}`;
    const rate = integerSetting(env, `${name}_RPS`, 0, { min: 0, max: 10_000_000 });
    const burst = integerSetting(env, `${name}_BURST`, 0, { min: 0, max: 10_000_000 });
    if (rate === 0) {
      if (burst !== 0) throw new ConfigError(`${name}_BURST is set without ${name}_RPS`);
      continue;
    }
    defaults[cls] = { ratePerSecond: rate, burst: burst === 0 ? rate * 2 : burst };
  }
  return { defaults, accounts: fromFile.accounts };
}

function readQuotaFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`KEYHOLD_QUOTAS_FILE: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ConfigError(`KEYHOLD_QUOTAS_FILE: ${path} is not valid JSON`);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** `{"defaults": {<class>: {"rps": n, "burst": n}}, "accounts": {<12 digits>: {<class>: ...}}}`. */
export function parseQuotaFile(document: unknown, where: string): QuotaConfig {
  if (!isObject(document)) throw new ConfigError(`${where}: must be a JSON object`);
  for (const field of Object.keys(document)) {
    if (field !== "defaults" && field !== "accounts") throw new ConfigError(`${where}: unknown field "${field}"`);
  }
  const defaults = document["defaults"] === undefined ? {} : parseClassQuotas(document["defaults"], `${where}: defaults`);
  const accounts: Record<string, ClassQuotas> = {};
  const rawAccounts = document["accounts"] ?? {};
  if (!isObject(rawAccounts)) throw new ConfigError(`${where}: accounts must be an object`);
  for (const [accountId, quotas] of Object.entries(rawAccounts)) {
    if (!/^\d{12}$/.test(accountId)) throw new ConfigError(`${where}: accounts: "${accountId}" is not a 12-digit account id`);
    accounts[accountId] = parseClassQuotas(quotas, `${where}: accounts.${accountId}`);
  }
  return { defaults, accounts };
}

function parseClassQuotas(value: unknown, where: string): ClassQuotas {
  if (!isObject(value)) throw new ConfigError(`${where} must be an object`);
  const quotas: Partial<Record<OperationClass, Quota>> = {};
  for (const [cls, raw] of Object.entries(value)) {
    if (!isOperationClass(cls)) throw new ConfigError(`${where}: unknown class "${cls}" (one of ${OPERATION_CLASSES.join(", ")})`);
    if (!isObject(raw)) throw new ConfigError(`${where}.${cls} must be an object with rps and burst`);
    const rate = raw["rps"];
    const burst = raw["burst"] ?? (typeof rate === "number" ? rate * 2 : undefined);
    if (typeof rate !== "number" || !(rate > 0) || !Number.isFinite(rate)) throw new ConfigError(`${where}.${cls}.rps must be a positive number`);
    if (typeof burst !== "number" || !Number.isSafeInteger(burst) || burst < 1) throw new ConfigError(`${where}.${cls}.burst must be a positive integer`);
    quotas[cls] = { ratePerSecond: rate, burst };
  }
  return quotas;
}

/** The quota of one account for one class, or undefined (unlimited). */
export function quotaFor(config: QuotaConfig, accountId: string, cls: OperationClass): Quota | undefined {
  return config.accounts[accountId]?.[cls] ?? config.defaults[cls];
}

/** True when any class of any account is limited. */
export function quotasEnabled(config: QuotaConfig): boolean {
  return Object.keys(config.defaults).length > 0 || Object.values(config.accounts).some((quotas) => Object.keys(quotas).length > 0);
}
