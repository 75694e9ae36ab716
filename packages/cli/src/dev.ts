// `keyhold dev`: every service in one process on embedded defaults (SQLite under the data
// directory, a local root key file), one gRPC port and one Connect/gRPC-Web port. Services
// reach each other through in-process transports, exactly as they would over the network:
// key-service and audit-service ask policy-service through its internal AuthorizationService,
// behind a local cache that policy-service's change stream flushes.
//
// secrets-service reaches key-service (data keys, its default keys) and policy-service's IamService
// (API key secrets) through in-process transports over those services' audited bindings, as the
// trusted peer "secrets-service" forwarding the principal it acts for; its scheduler (due
// rotations, purges, retiring rotated-out API keys) runs in this process.
//
// Audit: every public binding (KeyService, CryptoService, SealService, IamService, StsService, AuditService, SecretsService)
// runs the audit interceptor first, which appends one event per call to its service's durable
// outbox before the call is answered (fail closed); one shipper per outbox streams it to
// audit-service's AuditIngestService as that service. The internal services (AuthorizationService,
// AuditIngestService) are not audited.
//
// hsm-gateway runs only when a PKCS#11 module is configured (KEYHOLD_HSM_MODULE etc.). It is
// internal: it is not served on the public ports at all; Keyhold services reach it in-process
// as themselves, through the direct transport (dev.hsmClient is key-service's client). With KEYHOLD_ROOT_KEY=hsm, key-service's
// root key is a non-extractable key in that token (else the local root key file, with its warning).
//
// KEYHOLD_AUDIT=off (config.audit false; benchmarking only): no audit interceptor, no outbox, no
// shipper; every call goes unaudited, and a warning says so. audit-service still runs.
import { join } from "node:path";
import { Outbox, AuditShipper, auditInterceptor } from "@keyhold/audit-client";
import { createAuditServiceApp, type AuditServiceApp, type AuditServiceOverrides } from "@keyhold/audit-service";
import { CachedPolicyAuthority, RemotePolicyAuthority } from "@keyhold/authz";
import { RemoteHsmClient, type HsmClient } from "@keyhold/hsm-client";
import { createHsmGatewayApp, type HsmGatewayApp, type HsmGatewayOverrides } from "@keyhold/hsm-gateway";
import { createKeyServiceApp, type KeyServiceApp, type KeyServiceOverrides } from "@keyhold/key-service";
import { createPolicyServiceApp, type PolicyServiceApp, type PolicyServiceOverrides } from "@keyhold/policy-service";
import { createSecretsServiceApp, type SecretsServiceApp, type SecretsServiceOverrides } from "@keyhold/secrets-service";
import { AuditService, CryptoService, IamService, KeyService, SealService, SecretsService, StsService } from "@keyhold/proto";
import {
  createDirectTransport, createInMemoryTransport, KeyholdServer, Telemetry,
  type BoundAddresses, type CallInterceptor, type Logger, type ServiceBinding,
} from "@keyhold/server-kit";
import { loadAuditHmacKey, type DevConfig } from "./config.ts";
import { registerDevGauges } from "./dev-metrics.ts";
import { openCoordination, quotasEnabled, RateLimits, type Coordination } from "@keyhold/coordination";

/** The services whose calls are audited, each with its own outbox and shipper. */
export type AuditedService = "key-service" | "policy-service" | "audit-service" | "secrets-service";

export interface DevInstance {
  readonly addresses: BoundAddresses;
  readonly server: KeyholdServer;
  readonly keyService: KeyServiceApp;
  readonly policyService: PolicyServiceApp;
  readonly auditService: AuditServiceApp;
  readonly secretsService: SecretsServiceApp;
  /** hsm-gateway, when an HSM module is configured; else undefined (not started). */
  readonly hsmGateway: HsmGatewayApp | undefined;
  /** key-service's client of hsm-gateway (in-process, as key-service); undefined without an HSM. */
  readonly hsmClient: HsmClient | undefined;
  /** Whether public calls are audited (false only with KEYHOLD_AUDIT=off, for benchmarking). */
  readonly audited: boolean;
  /** Each audited service's outbox (`<dataDir>/<service>-audit-outbox.sqlite`); empty when not audited. */
  readonly outboxes: Readonly<Partial<Record<AuditedService, Outbox>>>;
  /** Each audited service's shipper to audit-service; empty when not audited. */
  readonly shippers: Readonly<Partial<Record<AuditedService, AuditShipper>>>;
  /** The key-service's view of policy decisions (for measurements of its cache). */
  readonly keyServiceAuthority: CachedPolicyAuthority;
  /** The administrator API key when this start generated it (first start); else undefined. */
  readonly bootstrapCredential: string | undefined;
  /** Traces and metrics of the process (GET /metrics on the HTTP port). */
  readonly telemetry: Telemetry;
  stop(): Promise<void>;
}

export interface DevOverrides {
  readonly keyService?: KeyServiceOverrides;
  readonly policyService?: PolicyServiceOverrides;
  readonly auditService?: AuditServiceOverrides;
  readonly secretsService?: SecretsServiceOverrides;
  readonly hsmGateway?: HsmGatewayOverrides;
  /** Instead of the one config.coordination opens (Redis, or in-process); not closed by stop(). */
  readonly coordination?: Coordination;
}

/** Decision and credential cache settings for services that ask policy-service. */
export const AUTHORITY_CACHE = { maxEntries: 100_000, ttlMs: 60_000, timeDependentTtlMs: 1_000 } as const;

/** How long stop() lets the shippers deliver what is in the outboxes. */
export const SHIPPER_STOP_DEADLINE_MS = 5_000;

/** The public services each audited service serves, with the prefix of their audit actions. */
const AUDITED_BINDINGS: Readonly<Record<string, { readonly service: AuditedService; readonly actionPrefix: string }>> = {
  [KeyService.typeName]: { service: "key-service", actionPrefix: "kms" },
  [CryptoService.typeName]: { service: "key-service", actionPrefix: "kms" },
  [SealService.typeName]: { service: "key-service", actionPrefix: "kms" },
  [IamService.typeName]: { service: "policy-service", actionPrefix: "iam" },
  [StsService.typeName]: { service: "policy-service", actionPrefix: "sts" },
  [AuditService.typeName]: { service: "audit-service", actionPrefix: "audit" },
  [SecretsService.typeName]: { service: "secrets-service", actionPrefix: "secrets" },
};

const SYSTEM_CLOCK = { now: () => new Date() };

/** Logged (at warn, so it shows at the default level and at KEYHOLD_LOG_LEVEL=warn) when KEYHOLD_AUDIT=off. */
export const AUDIT_OFF_WARNING = "KEYHOLD_AUDIT=off: AUDITING IS DISABLED, EVERY CALL GOES UNAUDITED; for benchmarking only, never for real use";

/**
 * Telemetry: every service's calls run its server interceptor first (a SERVER span named by the
 * RPC, the duration histogram), and every in-process transport carries the calling service's
 * client interceptors (a CLIENT span and the traceparent header), so one trace follows a call
 * from key-service into policy-service or hsm-gateway. Without `telemetry`, one is made from
 * config.telemetry and shut down by stop().
 */
export async function startDev(config: DevConfig, logger: Logger, overrides: DevOverrides = {}, telemetry?: Telemetry): Promise<DevInstance> {
  // Shutdown runs in phases: the server stops taking calls, the shippers deliver what they can,
  // the outboxes close, then key-service and policy-service, and audit-service last (it receives
  // the final events and signs the final checkpoint). Within a phase, last started stops first.
  const phases = { server: [], shippers: [], outboxes: [], apps: [], audit: [] } as Record<
    "server" | "shippers" | "outboxes" | "apps" | "audit",
    (() => Promise<unknown> | void)[]
  >;
  const cleanup = async () => {
    for (const phase of [phases.server, phases.shippers, phases.outboxes, phases.apps, phases.audit]) {
      for (const step of phase.splice(0).reverse()) {
        try {
          await step();
        } catch (error) {
          logger.error("shutdown step failed", { cause: error instanceof Error ? error.message : typeof error });
        }
      }
    }
  };
  const ownTelemetry = telemetry === undefined ? new Telemetry(config.telemetry) : undefined;
  const tel = telemetry ?? ownTelemetry!;
  if (ownTelemetry !== undefined) phases.audit.unshift(() => ownTelemetry.shutdown());
  /** A service's bindings with its telemetry step first, then the app's own interceptors. */
  const traced = (bindings: readonly ServiceBinding[], service: string, appInterceptors: readonly CallInterceptor[] = []) =>
    bindings.map((binding) => ({ ...binding, interceptors: [tel.serverInterceptor(service), ...appInterceptors, ...binding.interceptors] }));
  try {
    // What replicas share (Redis when KEYHOLD_REDIS_URL is set; in-process otherwise): closed last.
    let coordination = overrides.coordination;
    if (coordination === undefined) {
      const opened = await openCoordination(config.coordination, logger);
      phases.audit.unshift(() => opened.close());
      coordination = opened;
    }
    const { bus, leases } = coordination;
    const quotas = config.coordination.quotas;
    const rateLimits = quotasEnabled(quotas) ? { rateLimits: new RateLimits({ limiter: coordination.limiter, quotas, meter: tel.meter }) } : {};
    const trustedProxies = config.server.trustedProxies;
    if (!config.audit) logger.warn(AUDIT_OFF_WARNING, { audit: "off" });
    const hmacKey = config.audit ? await loadAuditHmacKey(config.auditHmacKeyFile) : undefined;
    const policyService = await createPolicyServiceApp(config.policyService, logger, overrides.policyService, { trustedProxies });
    phases.audit.push(() => policyService.close());

    const cachedAuthorityFor = async (callingService: string) => {
      const transport = createInMemoryTransport(traced(policyService.bindings, "policy-service", policyService.interceptors), [], logger, {
        callingService,
        clientInterceptors: tel.clientInterceptors(callingService),
      });
      const remote = new RemotePolicyAuthority(transport, { logger: logger.child({ service: callingService }) });
      await remote.start();
      const cached = new CachedPolicyAuthority(remote, AUTHORITY_CACHE);
      return { transport, remote, cached };
    };

    const forAudit = await cachedAuthorityFor("audit-service");
    phases.audit.push(() => forAudit.remote.close());
    phases.audit.push(() => forAudit.cached.close());
    const auditService = await createAuditServiceApp(config.auditService, logger, { authority: forAudit.cached }, { leases, ...overrides.auditService });
    phases.audit.push(() => auditService.close());

    // Before key-service, so it stops after it (last started stops first within a phase).
    let hsmGateway: HsmGatewayApp | undefined;
    let hsmClient: HsmClient | undefined;
    if (config.hsmGateway !== undefined) {
      const gateway = createHsmGatewayApp(config.hsmGateway, logger, overrides.hsmGateway);
      phases.apps.push(() => gateway.close());
      hsmGateway = gateway;
      // The direct transport: an HSM key's Encrypt pays for one AES-GCM in the token, not for a
      // Connect router round trip (serialization, async iterables) that costs several times more.
      hsmClient = new RemoteHsmClient(
        createDirectTransport(traced(gateway.bindings, "hsm-gateway"), [], logger, {
          callingService: "key-service",
          clientInterceptors: tel.clientInterceptors("key-service"),
        }),
      );
    }

    const forKeys = await cachedAuthorityFor("key-service");
    phases.apps.push(() => forKeys.remote.close());
    phases.apps.push(() => forKeys.cached.close());
    const keyServiceAuthority = forKeys.cached;
    const keyService = await createKeyServiceApp(
      config.keyService,
      logger,
      { authority: keyServiceAuthority, policyTransport: forKeys.transport, trustedProxies, ...(hsmClient === undefined ? {} : { hsm: hsmClient }) },
      { bus, leases, ...rateLimits, ...overrides.keyService },
    );
    phases.apps.push(() => keyService.close());

    // Until the server exists, an outbox's health change is only logged; afterwards it also
    // switches that service's public bindings to NOT_SERVING / SERVING.
    const serving: { server?: KeyholdServer } = {};
    const publicServicesOf = (service: AuditedService) =>
      Object.entries(AUDITED_BINDINGS).filter(([, audited]) => audited.service === service).map(([typeName]) => typeName);
    const openOutbox = (service: AuditedService) =>
      Outbox.open({
        path: join(config.auditOutboxDir, `${service}-audit-outbox.sqlite`),
        service,
        onHealthChange: (healthy, cause) => {
          if (healthy) logger.info("audit outbox healthy again", { service });
          else logger.error("audit outbox unhealthy: calls fail closed", { service, cause: cause?.message ?? "" });
          for (const typeName of publicServicesOf(service)) serving.server?.health.setServing(typeName, healthy);
        },
      });
    const services: readonly AuditedService[] = ["key-service", "policy-service", "audit-service", "secrets-service"];
    const outboxes: Partial<Record<AuditedService, Outbox>> = {};
    const shippers: Partial<Record<AuditedService, AuditShipper>> = {};
    for (const service of config.audit ? services : []) {
      const outbox = await openOutbox(service);
      phases.outboxes.push(() => outbox.close());
      outboxes[service] = outbox;
      // The direct transport: a shipped batch reaches AppendEvents as the outbox's bytes, not
      // serialized into a request and parsed back out of it by the Connect router.
      const shipper = new AuditShipper({
        outbox,
        transport: createDirectTransport(traced(auditService.bindings, "audit-service", auditService.interceptors), [], logger, {
          callingService: service,
          clientInterceptors: tel.clientInterceptors(service),
        }),
        logger: logger.child({ service, component: "audit-shipper" }),
      });
      shipper.start();
      phases.shippers.push(() => shipper.stop(SHIPPER_STOP_DEADLINE_MS));
      shippers[service] = shipper;
    }

    const withAudit = (binding: ServiceBinding, appInterceptors: readonly CallInterceptor[], service: string): ServiceBinding => {
      const audited = AUDITED_BINDINGS[binding.service.typeName];
      const audit: CallInterceptor[] = [];
      if (config.audit && audited !== undefined) {
        // Fail closed: auditing on means every public binding has its interceptor, or no start.
        const outbox = outboxes[audited.service];
        if (outbox === undefined || hmacKey === undefined) throw new Error(`no audit outbox for ${audited.service}`);
        audit.push(auditInterceptor({ service: audited.service, actionPrefix: audited.actionPrefix, outbox, clock: SYSTEM_CLOCK, hmacKey }));
      }
      return { ...binding, interceptors: [tel.serverInterceptor(service), ...audit, ...appInterceptors, ...binding.interceptors] };
    };

    const forSecrets = await cachedAuthorityFor("secrets-service");
    phases.apps.push(() => forSecrets.remote.close());
    phases.apps.push(() => forSecrets.cached.close());
    const secretsService = await createSecretsServiceApp(
      config.secretsService,
      logger,
      {
        authority: forSecrets.cached,
        keyTransport: createInMemoryTransport(keyService.bindings.map((binding) => withAudit(binding, [], "key-service")), [], logger, {
          callingService: "secrets-service",
          clientInterceptors: tel.clientInterceptors("secrets-service"),
        }),
        iamTransport: createInMemoryTransport(
          policyService.bindings.map((binding) => withAudit(binding, policyService.interceptors, "policy-service")),
          [],
          logger,
          { callingService: "secrets-service", clientInterceptors: tel.clientInterceptors("secrets-service") },
        ),
        trustedProxies,
      },
      { leases, ...rateLimits, ...overrides.secretsService },
    );
    phases.apps.push(() => secretsService.close());
    const started = new KeyholdServer({
      bindings: [
        ...keyService.bindings.map((binding) => withAudit(binding, [], "key-service")),
        ...policyService.bindings.map((binding) => withAudit(binding, policyService.interceptors, "policy-service")),
        ...auditService.bindings.map((binding) => withAudit(binding, auditService.interceptors, "audit-service")),
        ...secretsService.bindings.map((binding) => withAudit(binding, [], "secrets-service")),
      ],
      interceptors: [],
      logger,
      grpc: config.server.grpc,
      http: config.server.http,
      maxMessageBytes: config.server.maxMessageBytes,
      corsOrigins: config.server.corsOrigins,
      shutdownGraceMs: config.server.shutdownGraceMs,
      tls: config.server.tls,
      metrics: tel.metricsEndpoint,
    });
    serving.server = started;
    registerDevGauges(tel.meter, {
      shippers,
      authorities: { "key-service": forKeys.cached, "audit-service": forAudit.cached, "secrets-service": forSecrets.cached },
      materialCache: keyService.materialCache,
      hsmGateway,
    });
    const addresses = await started.start();
    phases.server.push(() => started.stop());
    secretsService.scheduler.start();
    for (const binding of started.bindings) {
      const audited = AUDITED_BINDINGS[binding.service.typeName];
      started.health.setServing(binding.service.typeName, audited === undefined || !config.audit || outboxes[audited.service]?.healthy === true);
    }
    return {
      addresses,
      server: started,
      keyService,
      policyService,
      auditService,
      secretsService,
      hsmGateway,
      hsmClient,
      audited: config.audit,
      outboxes,
      shippers,
      keyServiceAuthority,
      bootstrapCredential: policyService.bootstrapCredential,
      telemetry: tel,
      stop: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
