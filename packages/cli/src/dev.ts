// `keyhold dev`: every service in one process on embedded defaults (SQLite under the data
// directory, a local root key file), one gRPC port and one Connect/gRPC-Web port.
import { createKeyServiceApp, type KeyServiceApp, type KeyServiceOverrides } from "@keyhold/key-service";
import { fixedIdentity, identityInterceptor, KeyholdServer, type BoundAddresses, type Logger, type Principal } from "@keyhold/server-kit";
import type { DevConfig } from "./config.ts";

export interface DevInstance {
  readonly addresses: BoundAddresses;
  readonly server: KeyholdServer;
  readonly keyService: KeyServiceApp;
  readonly principal: Principal;
  stop(): Promise<void>;
}

export interface DevOverrides {
  readonly keyService?: KeyServiceOverrides;
}

export function devPrincipal(accountId: string): Principal {
  return { accountId, krn: `krn:keyhold:iam::${accountId}:root`, kind: "root", name: "root" };
}

export async function startDev(config: DevConfig, logger: Logger, overrides: DevOverrides = {}): Promise<DevInstance> {
  const keyService = await createKeyServiceApp(config.keyService, logger, overrides.keyService);
  // Until policy-service lands, every call runs as the development account's root principal.
  const principal = devPrincipal(config.keyService.devAccountId);
  const server = new KeyholdServer({
    bindings: keyService.bindings,
    interceptors: [identityInterceptor(fixedIdentity(principal))],
    logger,
    grpc: config.server.grpc,
    http: config.server.http,
    maxMessageBytes: config.server.maxMessageBytes,
    corsOrigins: config.server.corsOrigins,
    shutdownGraceMs: config.server.shutdownGraceMs,
  });
  let addresses: BoundAddresses;
  try {
    addresses = await server.start();
  } catch (error) {
    await keyService.close();
    throw error;
  }
  for (const binding of keyService.bindings) server.health.setServing(binding.service.typeName, true);
  return {
    addresses,
    server,
    keyService,
    principal,
    async stop() {
      await server.stop();
      await keyService.close();
    },
  };
}
