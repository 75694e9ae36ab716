export { createHsmGatewayApp } from "./app.ts";
export type { HsmGatewayApp, HsmGatewayOverrides } from "./app.ts";
export { ConfigError, HsmPin, hsmConfigured, readHsmGatewayConfig } from "./config.ts";
export type { Environment, HsmGatewayConfig, TokenSelector } from "./config.ts";
export type { AppContext } from "./context.ts";
export { ckrRule } from "@keyhold/pkcs11";
export type { CkrRule, HsmMetricsSnapshot, PoolGauges, Recovery } from "@keyhold/pkcs11";
export { keyholdServicesOnly } from "./routes.ts";
