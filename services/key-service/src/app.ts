// Builds key-service from its dependencies. The all-in-one process and the standalone main
// both use createKeyServiceApp; tests pass overrides (store, root key, clock, randomness).
import { randomBytes, randomUUID } from "node:crypto";
import { authenticationInterceptor, authorizationRequiredInterceptor, CallAccess, type PolicyAuthority } from "@keyhold/authz";
import { InProcessInvalidationBus, InProcessLeaseManager, type InvalidationBus, type LeaseManager, type RateLimits } from "@keyhold/coordination";
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
import { encodeKeyCacheChange, followKeyCacheChanges, KEY_CACHE_TOPIC } from "./store/key-cache-invalidation.ts";
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
  /** Cache invalidation between replicas sharing a database; default in-process (no other replica). */
  readonly bus?: InvalidationBus;
  /** Leases so the background jobs run on one replica at a time; default in-process (always granted). */
  readonly leases?: LeaseManager;
  /** Per-account quotas, checked after authentication; default none (unlimited). */
  readonly rateLimits?: RateLimits;
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
  const bus = overrides.bus ?? new InProcessInvalidationBus();
  const store = new CachingKeyStore(overrides.store ?? (await openKeyStore(config, log)), config.recordCacheSize, {
    ttlMs: config.recordCacheTtlMs,
    changed: (change) => bus.publish(KEY_CACHE_TOPIC, encodeKeyCacheChange(change)),
  });
  const random = overrides.random ?? ((size: number) => randomBytes(size));
  const cache = new KeyMaterialCache(config.materialCacheSize);
  const unfollow = followKeyCacheChanges(bus, { records: store, materials: { forget: (versionId) => cache.delete(versionId), clear: () => cache.clear() } });
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
  const jobs = new KeyJobs(context, config.jobIntervalMs, overrides.leases ?? new InProcessLeaseManager(log));
  if (overrides.startJobs ?? true) jobs.start();
  return {
    context,
    jobs,
    materialCache: cache,
    bindings: keyServiceBindings(context, [
      authenticationInterceptor(dependencies.authority, { trustedProxies: dependencies.trustedProxies ?? [] }),
      ...(overrides.rateLimits === undefined ? [] : [overrides.rateLimits.interceptor()]),
      authorizationRequiredInterceptor(),
    ]),
    async close() {
      await jobs.stop();
      unfollow();
      await privateKeys.close();
      xks.close();
      cache.clear();
      await store.close();
      await rootKey.close();
    },
  };
}
