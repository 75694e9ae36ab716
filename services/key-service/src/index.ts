export { createKeyServiceApp } from "./app.ts";
export type { KeyServiceApp, KeyServiceDependencies, KeyServiceOverrides } from "./app.ts";
export { ConfigError, readKeyServiceConfig } from "./config.ts";
export type { Environment, KeyServiceConfig } from "./config.ts";
export type { AppContext, Clock } from "./context.ts";
export { LocalFileRootKeyProvider } from "./domain/root-key.ts";
export type { RootKeyProvider } from "./domain/root-key.ts";
export { initializeSeal, readSealFile, SealedRootKeyProvider, writeSealFile } from "./domain/sealed-root-key.ts";
export type { SealControl, SealFileContents, SealStatus } from "./domain/sealed-root-key.ts";
