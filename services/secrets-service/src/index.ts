export { createSecretsServiceApp } from "./app.ts";
export type { SecretsServiceApp, SecretsServiceDependencies, SecretsServiceOverrides } from "./app.ts";
export { ConfigError, readSecretsServiceConfig } from "./config.ts";
export type { Environment, SecretsServiceConfig } from "./config.ts";
export type { AppContext, Clock } from "./context.ts";
export type { PostgresConnector, PostgresCredentials, PostgresSession } from "./domain/rotation/postgres-rotation.ts";
export type { HandlerTransports } from "./domain/rotation/remote-handler.ts";
export type { TickResult } from "./domain/rotation/scheduler.ts";
