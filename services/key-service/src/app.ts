// Builds key-service from its dependencies. The all-in-one process and the standalone main
// both use createKeyServiceApp; tests pass overrides (store, root key, clock, randomness).
import { randomBytes, randomUUID } from "node:crypto";
import { authenticationInterceptor, authorizationRequiredInterceptor, CallAccess, type PolicyAuthority } from "@keyhold/authz";
import type { Logger, ServiceBinding } from "@keyhold/server-kit";
import { createClient, type Transport } from "@connectrpc/connect";
import { AuthorizationService } from "@keyhold/proto";
import type { KeyServiceConfig } from "./config.ts";
import { systemClock, type AppContext, type Clock } from "./context.ts";
import { HsmKeys } from "./domain/hsm-keys.ts";
import { KeyJobs } from "./domain/key-jobs.ts";
import { KeyMaterials } from "./domain/key-materials.ts";
import { KeyMaterialCache } from "./domain/material-cache.ts";
import { PrivateKeyPool } from "./domain/private-key-pool.ts";
import type { HsmClient } from "@keyhold/hsm-client";
import { openRootKeyProvider } from "./domain/open-root-key.ts";
import type { RootKeyProvider } from "./domain/root-key.ts";
import { sealControlOf } from "./domain/sealed-root-key.ts";
import { XksProxies } from "./domain/xks-proxies.ts";
import { keyServiceBindings } from "./routes.ts";
import { CachingKeyStore } from "./store/caching-key-store.ts";
import type { KeyStore } from "./store/key-store.ts";
import { openKeyStore } from "./store/open-store.ts";

export interface KeyServiceOverrides {
  readonly store?: KeyStore;
  readonly rootKey?: RootKeyProvider;
  readonly clock?: Clock;
  readonly random?: (size: number) => Buffer;
  readonly newId?: () => string;
  /** false: the background jobs do not run on a timer (tests call jobs.runOnce()). Default true. */
  readonly startJobs?: boolean;
}

/** What key-service needs from other services. */
export interface KeyServiceDependencies {
  /** Who is calling and may they: policy-service, behind a local cache. */
  readonly authority: PolicyAuthority;
  /** The way to policy-service's internal AuthorizationService (key policies and grants). */
  readonly policyTransport: Transport;
  /**
   * IPs / CIDR ranges of mesh sidecars whose x-forwarded-client-cert is honoured as the caller's
   * certificate identity (the server configuration's trustedProxies). Default none.
   */
  readonly trustedProxies?: readonly string[];
  /** hsm-gateway, when an HSM is configured (keys with origin HSM; the root key with KEYHOLD_ROOT_KEY=hsm). */
  readonly hsm?: HsmClient;
}

export interface KeyServiceApp {
  readonly context: AppContext;
  readonly bindings: readonly ServiceBinding[];
  /** Rotation, deletion and material expiry; started unless overrides.startJobs is false. */
  readonly jobs: KeyJobs;
  /** Unwrapped key material in memory (its hit and miss counts feed the metrics). */
  readonly materialCache: KeyMaterialCache;
  close(): Promise<void>;
}

export async function createKeyServiceApp(
  config: KeyServiceConfig,
  logger: Logger,
  dependencies: KeyServiceDependencies,
  overrides: KeyServiceOverrides = {},
): Promise<KeyServiceApp> {
  const log = logger.child({ service: "key-service" });
  const rootKey = overrides.rootKey ?? (await openRootKeyProvider(config, log, dependencies.hsm));
  const seal = sealControlOf(rootKey);
  const store = new CachingKeyStore(overrides.store ?? (await openKeyStore(config, log)), config.recordCacheSize);
  const random = overrides.random ?? ((size: number) => randomBytes(size));
  const cache = new KeyMaterialCache(config.materialCacheSize);
  seal.onSeal(() => cache.clear());
  const privateKeys = new PrivateKeyPool(config.privateKeyWorkers);
  const clock = overrides.clock ?? systemClock;
  const xks = new XksProxies(
    rootKey,
    {
      region: config.region,
      timeoutMs: config.xksTimeoutMs,
      connectTimeoutMs: config.xksConnectTimeoutMs,
      healthCacheMs: config.xksHealthCacheMs,
      now: () => Date.now(),
    },
    log,
  );
  // Sealing forgets the proxy clients too: they hold unwrapped credentials.
  seal.onSeal(() => xks.close());
  const context: AppContext = {
    config,
    store,
    rootKey,
    seal,
    materials: new KeyMaterials(rootKey, cache, random),
    hsmKeys: new HsmKeys(dependencies.hsm, seal),
    privateKeys,
    xks,
    access: new CallAccess(dependencies.authority),
    policy: createClient(AuthorizationService, dependencies.policyTransport),
    clock,
    random,
    newId: overrides.newId ?? randomUUID,
    logger: log,
  };
  const jobs = new KeyJobs(context, config.jobIntervalMs);
  if (overrides.startJobs ?? true) jobs.start();
  return {
    context,
    jobs,
    materialCache: cache,
    bindings: keyServiceBindings(context, [
      authenticationInterceptor(dependencies.authority, { trustedProxies: dependencies.trustedProxies ?? [] }),
      authorizationRequiredInterceptor(),
    ]),
    async close() {
      await jobs.stop();
      await privateKeys.close();
      xks.close();
      cache.clear();
      await store.close();
      await rootKey.close();
    },
  };
}
