export { hsmError, RemoteHsmClient } from "./hsm-client.ts";
export type { HsmClient, HsmHealth, HsmKeySpecName, HsmKeyUsageName, HsmSigningAlgorithmName, RemoteHsmClientOptions, SignOptions } from "./hsm-client.ts";
