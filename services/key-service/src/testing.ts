// For tests outside key-service (multi-service tests under test/): "an XKS proxy" to create
// external key stores against. Today the stand-in external key manager (see
// xks-stand-in-proxy.ts); xki-proxy's own test factory replaces it when it exists.
export { startStandInXksProxy } from "./xks-stand-in-proxy.ts";
export type { StandInOptions, StandInXksProxy, XksProxyForTests } from "./xks-stand-in-proxy.ts";
