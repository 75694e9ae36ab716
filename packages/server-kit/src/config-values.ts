// What every service's config.ts shares: its error class and the reading of integer settings
// (unset or empty: the default; anything else a safe integer within bounds, or a ConfigError
// naming the variable and the value given).
export type Environment = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export interface IntegerBounds {
  /** Inclusive (default 0). */
  readonly min?: number;
  /** Inclusive (default: none). */
  readonly max?: number;
}

function expectation(min: number, max: number): string {
  if (max !== Number.MAX_SAFE_INTEGER) return `an integer from ${min} to ${max}`;
  if (min === 0) return "a non-negative integer";
  if (min === 1) return "a positive integer";
  return `an integer of at least ${min}`;
}

/** The integer setting `name`, `fallback` when it is unset or empty. */
export function integerSetting(env: Environment, name: string, fallback: number, bounds: IntegerBounds = {}): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const min = bounds.min ?? 0;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new ConfigError(`${name} must be ${expectation(min, max)}, got "${raw}"`);
  return value;
}
