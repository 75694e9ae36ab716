// Builds secrets-service from its dependencies. The all-in-one process and the standalone main
// both use createSecretsServiceApp; tests pass overrides (store, clock, ids, handler transports).
import { randomUUID } from "node:crypto";
import { createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { authenticationInterceptor, authorizationRequiredInterceptor, CallAccess, type PolicyAuthority } from "@keyhold/authz";
import { CryptoService, IamService, KeyService, SecretType } from "@keyhold/proto";
import type { Logger, ServiceBinding } from "@keyhold/server-kit";
import type { SecretsServiceConfig } from "./config.ts";
import { systemClock, type AppContext, type Clock } from "./context.ts";
import { DataKeyCache } from "./domain/data-key-cache.ts";
import { DefaultKeys } from "./domain/default-keys.ts";
import { Envelope } from "./domain/envelope.ts";
import { KeyPeer } from "./domain/key-peer.ts";
import { ApiKeyRotation } from "./domain/rotation/api-key-rotation.ts";
import { ManagedRotationSteps } from "./domain/rotation/managed-steps.ts";
import { pgConnector } from "./domain/rotation/pg-connector.ts";
import { PostgresRotation, type PostgresConnector } from "./domain/rotation/postgres-rotation.ts";
import { RemoteRotationSteps, type HandlerTransports } from "./domain/rotation/remote-handler.ts";
import { Rotator, type RotationSteps } from "./domain/rotation/rotator.ts";
import { Scheduler } from "./domain/rotation/scheduler.ts";
import { InProcessInvalidationBus, InProcessLeaseManager, type InvalidationBus, type LeaseManager, type RateLimits } from "@keyhold/coordination";
import { secretsServiceBindings } from "./routes.ts";
import { CachingSecretStore } from "./store/caching-secret-store.ts";
import { encodeSecretCacheChange, followSecretCacheChanges, SECRET_CACHE_TOPIC } from "./store/secret-cache-invalidation.ts";
import { SecretRecordCache } from "./store/secret-record-cache.ts";
import type { SecretStore } from "./store/secret-store.ts";
import { openSecretStore } from "./store/open-store.ts";

export interface SecretsServiceOverrides {
  readonly store?: SecretStore;
  readonly clock?: Clock;
  readonly newId?: () => string;
  /** How rotation handlers are reached (default: gRPC over HTTP/2 to the handler's URL). */
  readonly handlerTransports?: HandlerTransports;
  /** How database sessions are opened for PostgreSQL secrets (default: node-postgres). */
  readonly postgres?: PostgresConnector;
  /** Leases so the scheduler runs on one replica at a time; default in-process (always granted). */
  readonly leases?: LeaseManager;
  /** Record cache invalidation between replicas sharing a database; default in-process (no other replica). */
  readonly bus?: InvalidationBus;
  /** Per-account quotas, checked after authentication; default none (unlimited). */
  readonly rateLimits?: RateLimits;
}

/** What secrets-service needs from other services. */
export interface SecretsServiceDependencies {
  /** Who is calling and may they: policy-service, behind a local cache. */
  readonly authority: PolicyAuthority;
  /** The way to key-service (CryptoService, KeyService), as the trusted peer "secrets-service". */
  readonly keyTransport: Transport;
  /** The way to policy-service's IamService (API key secrets), as the trusted peer "secrets-service". */
  readonly iamTransport: Transport;
  /** IPs / CIDR ranges of mesh sidecars whose x-forwarded-client-cert is honoured. Default none. */
  readonly trustedProxies?: readonly string[];
}

export interface SecretsServiceApp {
  readonly context: AppContext;
  readonly bindings: readonly ServiceBinding[];
  readonly scheduler: Scheduler;
  /** Secret records in memory (sealed values only; its hit and miss counts feed the metrics). */
  readonly recordCache: SecretRecordCache;
  close(): Promise<void>;
}

function defaultHandlerTransports(): HandlerTransports {
  const transports = new Map<string, Transport>();
  return (baseUrl) => {
    let transport = transports.get(baseUrl);
    if (transport === undefined) {
      transport = createGrpcTransport({ baseUrl });
      transports.set(baseUrl, transport);
    }
    return transport;
  };
}

export async function createSecretsServiceApp(
  config: SecretsServiceConfig,
  logger: Logger,
  dependencies: SecretsServiceDependencies,
  overrides: SecretsServiceOverrides = {},
): Promise<SecretsServiceApp> {
  const log = logger.child({ service: "secrets-service" });
  const bus = overrides.bus ?? new InProcessInvalidationBus();
  const recordCache = new SecretRecordCache(config.recordCacheSize, config.recordCacheTtlMs);
  const cachingStore = new CachingSecretStore(overrides.store ?? (await openSecretStore(config, log)), recordCache, {
    // A write answers once the other replicas are told (bounded by Redis's command timeout).
    changed: (secretId) => bus.publishAndWait(SECRET_CACHE_TOPIC, encodeSecretCacheChange(secretId)),
    // Redis down: every read from the database (the bus flushes the cache once it is back).
    trusted: () => bus.subscribed,
  });
  const unfollow = followSecretCacheChanges(bus, recordCache);
  // Handlers read through the cache; rotation decides from the database (its steps may be
  // answered through another replica, whose invalidation message may not have arrived yet).
  const store: SecretStore = cachingStore;
  const freshStore = cachingStore.withFreshReads();
  const clock = overrides.clock ?? systemClock;
  const newId = overrides.newId ?? randomUUID;
  const keys = new KeyPeer(createClient(CryptoService, dependencies.keyTransport), createClient(KeyService, dependencies.keyTransport));
  const iam = createClient(IamService, dependencies.iamTransport);
  const envelope = new Envelope(keys);
  const dataKeys = new DataKeyCache(config.dataKeyCacheSize, config.dataKeyCacheMs, clock);
  const defaultKeys = new DefaultKeys(store, keys);
  const versionDeps = { config, store: freshStore, envelope, defaultKeys, clock };
  const remote = new RemoteRotationSteps(overrides.handlerTransports ?? defaultHandlerTransports());
  const apiKeys = new ManagedRotationSteps(versionDeps, new ApiKeyRotation({ iam, store: freshStore, clock }));
  const connect = overrides.postgres ?? pgConnector(Math.min(config.rotationStepTimeoutMs, 30_000));
  const postgres = new ManagedRotationSteps(versionDeps, new PostgresRotation({ ...versionDeps, connect }));
  const stepsFor = (secret: { secretType: SecretType }): RotationSteps => {
    switch (secret.secretType) {
      case SecretType.KEYHOLD_API_KEY:
        return apiKeys;
      case SecretType.POSTGRESQL:
        return postgres;
      default:
        return remote;
    }
  };
  const rotator = new Rotator({ config, store: freshStore, clock, newId, logger: log }, stepsFor);
  const context: AppContext = {
    config,
    store,
    access: new CallAccess(dependencies.authority),
    authority: dependencies.authority,
    dataKeys,
    keys,
    envelope,
    defaultKeys,
    iam,
    rotator,
    clock,
    newId,
    logger: log,
  };
  const leases = overrides.leases ?? new InProcessLeaseManager(log);
  const scheduler = new Scheduler({ store: freshStore, rotator, iam, clock, logger: log, intervalMs: config.schedulerIntervalMs, leases });
  return {
    context,
    scheduler,
    recordCache,
    bindings: secretsServiceBindings(context, [
      authenticationInterceptor(dependencies.authority, { trustedProxies: dependencies.trustedProxies ?? [] }),
      ...(overrides.rateLimits === undefined ? [] : [overrides.rateLimits.interceptor()]),
      authorizationRequiredInterceptor(),
    ]),
    async close() {
      await scheduler.stop();
      unfollow();
      dataKeys.clear();
      await store.close();
    },
  };
}
