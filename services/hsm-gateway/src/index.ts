export { createHsmGatewayApp } from "./app.ts";
export type { HsmGatewayApp, HsmGatewayOverrides } from "./app.ts";
export { ConfigError, HsmPin, hsmConfigured, readHsmGatewayConfig } from "./config.ts";
export type { Environment, HsmGatewayConfig, TokenSelector } from "./config.ts";
export type { AppContext } from "./context.ts";
export { ckrRule } from "./domain/ckr.ts";
export type { CkrRule, Recovery } from "./domain/ckr.ts";
export type { HsmMetricsSnapshot, PoolGauges } from "./domain/metrics.ts";
export { keyholdServicesOnly } from "./routes.ts";
