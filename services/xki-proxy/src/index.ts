export { createXkiProxyApp } from "./app.ts";
export type { XkiProxyAddresses, XkiProxyApp, XkiProxyOverrides } from "./app.ts";
export { AdminToken, ConfigError, readCredentialsFile, readXkiProxyConfig } from "./config.ts";
export type { ConfiguredPrefix, Environment, XkiHsmConfig, XkiProxyConfig, XksTlsConfig } from "./config.ts";
export type { AppContext } from "./context.ts";
export { AuthorizationPolicy, PolicyError } from "./domain/policy.ts";
export type { AuthorizationInput, Decision } from "./domain/policy.ts";
export { XKS_SIGV4_SERVICE } from "./http/xks-server.ts";
export { runXkiProxy } from "./main.ts";
