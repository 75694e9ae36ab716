// `keyhold dev`: every service in one process on embedded defaults (SQLite under the data
// directory, a local root key file), one gRPC port and one Connect/gRPC-Web port. Services
// reach each other through in-process transports, exactly as they would over the network:
// key-service asks policy-service through its internal AuthorizationService, behind a local
// cache that policy-service's change stream flushes.
import { CachedPolicyAuthority, RemotePolicyAuthority } from "@keyhold/authz";
import { createKeyServiceApp, type KeyServiceApp, type KeyServiceOverrides } from "@keyhold/key-service";
import { createPolicyServiceApp, type PolicyServiceApp, type PolicyServiceOverrides } from "@keyhold/policy-service";
import { createInMemoryTransport, KeyholdServer, type BoundAddresses, type Logger } from "@keyhold/server-kit";
import type { DevConfig } from "./config.ts";

export interface DevInstance {
  readonly addresses: BoundAddresses;
  readonly server: KeyholdServer;
  readonly keyService: KeyServiceApp;
  readonly policyService: PolicyServiceApp;
  /** The key-service's view of policy decisions (for measurements of its cache). */
  readonly keyServiceAuthority: CachedPolicyAuthority;
  /** The administrator API key when this start generated it (first start); else undefined. */
  readonly bootstrapCredential: string | undefined;
  stop(): Promise<void>;
}

export interface DevOverrides {
  readonly keyService?: KeyServiceOverrides;
  readonly policyService?: PolicyServiceOverrides;
}

/** Decision and credential cache settings for services that ask policy-service. */
export const AUTHORITY_CACHE = { maxEntries: 100_000, ttlMs: 60_000, timeDependentTtlMs: 1_000 } as const;

export async function startDev(config: DevConfig, logger: Logger, overrides: DevOverrides = {}): Promise<DevInstance> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step();
  };
  try {
    const trustedProxies = config.server.trustedProxies;
    const policyService = await createPolicyServiceApp(config.policyService, logger, overrides.policyService, { trustedProxies });
    cleanups.push(() => policyService.close());

    const toPolicy = createInMemoryTransport(policyService.bindings, policyService.interceptors, logger, { callingService: "key-service" });
    const remote = new RemotePolicyAuthority(toPolicy, { logger: logger.child({ service: "key-service" }) });
    cleanups.push(() => remote.close());
    await remote.start();
    const keyServiceAuthority = new CachedPolicyAuthority(remote, AUTHORITY_CACHE);
    cleanups.push(() => keyServiceAuthority.close());

    const keyService = await createKeyServiceApp(
      config.keyService,
      logger,
      { authority: keyServiceAuthority, policyTransport: toPolicy, trustedProxies },
      overrides.keyService,
    );
    cleanups.push(() => keyService.close());

    const policyBindings = policyService.bindings.map((binding) => ({ ...binding, interceptors: [...policyService.interceptors, ...binding.interceptors] }));
    const server = new KeyholdServer({
      bindings: [...keyService.bindings, ...policyBindings],
      interceptors: [],
      logger,
      grpc: config.server.grpc,
      http: config.server.http,
      maxMessageBytes: config.server.maxMessageBytes,
      corsOrigins: config.server.corsOrigins,
      shutdownGraceMs: config.server.shutdownGraceMs,
      tls: config.server.tls,
    });
    const addresses = await server.start();
    cleanups.push(() => server.stop());
    for (const binding of server.bindings) server.health.setServing(binding.service.typeName, true);
    return {
      addresses,
      server,
      keyService,
      policyService,
      keyServiceAuthority,
      bootstrapCredential: policyService.bootstrapCredential,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
