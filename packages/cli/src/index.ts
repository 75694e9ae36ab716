export { DEFAULT_GRPC_ADDRESS, DEFAULT_HTTP_ADDRESS, loadDevConfig, readDevConfig } from "./config.ts";
export type { DevConfig } from "./config.ts";
export { AUTHORITY_CACHE, startDev } from "./dev.ts";
export type { DevInstance, DevOverrides } from "./dev.ts";
export { migrateRootKeyToHsm, MigrationRefused } from "./migrate-root-key.ts";
export type { MigrateRootKeyOptions } from "./migrate-root-key.ts";
