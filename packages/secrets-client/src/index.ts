export { DEFAULT_TTL_MS, SecretsCache } from "./secrets-cache.ts";
export type { CachedSecret, FetchOptions, SecretsCacheOptions } from "./secrets-cache.ts";
