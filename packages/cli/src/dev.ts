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
//
// The composition pieces (shutdown order, audit plumbing, cached policy decisions) are shared
// with `keyhold serve <service>` (serve.ts) through compose.ts; only the transports differ.
import type { AuditShipper, Outbox } from "@keyhold/audit-client";
import { createAuditServiceApp, type AuditServiceApp, type AuditServiceOverrides } from "@keyhold/audit-service";
import type { CachedPolicyAuthority } from "@keyhold/authz";
import { RemoteHsmClient, type HsmClient } from "@keyhold/hsm-client";
import { createHsmGatewayApp, type HsmGatewayApp, type HsmGatewayOverrides } from "@keyhold/hsm-gateway";
import { createKeyServiceApp, type KeyServiceApp, type KeyServiceOverrides } from "@keyhold/key-service";
import { createPolicyServiceApp, type PolicyServiceApp, type PolicyServiceOverrides } from "@keyhold/policy-service";
import { createSecretsServiceApp, type SecretsServiceApp, type SecretsServiceOverrides } from "@keyhold/secrets-service";
import { createDirectTransport, createInMemoryTransport, KeyholdServer, Telemetry, type BoundAddresses, type Logger } from "@keyhold/server-kit";
import { AUDIT_OFF_WARNING, AuditPlumbing, cachedPolicyAuthority, frontDoorOptions, Shutdown, traced, type AuditedService } from "./compose.ts";
import { loadAuditHmacKey, type DevConfig } from "./config.ts";
import { registerDevGauges } from "./dev-metrics.ts";
import { openCoordination, quotasEnabled, RateLimits, type Coordination } from "@keyhold/coordination";

export type { AuditedService } from "./compose.ts";
export { AUDIT_OFF_WARNING, AUTHORITY_CACHE, SHIPPER_STOP_DEADLINE_MS } from "./compose.ts";

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

/**
 * Telemetry: every service's calls run its server interceptor first (a SERVER span named by the
 * RPC, the duration histogram), and every in-process transport carries the calling service's
 * client interceptors (a CLIENT span and the traceparent header), so one trace follows a call
 * from key-service into policy-service or hsm-gateway. Without `telemetry`, one is made from
 * config.telemetry and shut down by stop().
 */
export async function startDev(config: DevConfig, logger: Logger, overrides: DevOverrides = {}, telemetry?: Telemetry): Promise<DevInstance> {
  const shutdown = new Shutdown(logger);
  const ownTelemetry = telemetry === undefined ? new Telemetry(config.telemetry) : undefined;
  const tel = telemetry ?? ownTelemetry!;
  if (ownTelemetry !== undefined) shutdown.addLast(() => ownTelemetry.shutdown());
  try {
    // What replicas share (Redis when KEYHOLD_REDIS_URL is set; in-process otherwise): closed last.
    let coordination = overrides.coordination;
    if (coordination === undefined) {
      const opened = await openCoordination(config.coordination, logger);
      shutdown.addLast(() => opened.close());
      coordination = opened;
    }
    const { bus, leases } = coordination;
    const quotas = config.coordination.quotas;
    const rateLimits = quotasEnabled(quotas) ? { rateLimits: new RateLimits({ limiter: coordination.limiter, quotas, meter: tel.meter }) } : {};
    const trustedProxies = config.server.trustedProxies;
    if (!config.audit) logger.warn(AUDIT_OFF_WARNING, { audit: "off" });
    const hmacKey = config.audit ? await loadAuditHmacKey(config.auditHmacKeyFile) : undefined;
    const policyService = await createPolicyServiceApp(config.policyService, logger, overrides.policyService, { trustedProxies });
    shutdown.add("audit", () => policyService.close());

    /** policy-service in-process, as `callingService`. */
    const policyTransportFor = (callingService: string) =>
      createInMemoryTransport(traced(tel, policyService.bindings, "policy-service", policyService.interceptors), [], logger, {
        callingService,
        clientInterceptors: tel.clientInterceptors(callingService),
      });

    const forAudit = await cachedPolicyAuthority(policyTransportFor("audit-service"), "audit-service", logger, shutdown, "audit");
    const auditService = await createAuditServiceApp(config.auditService, logger, { authority: forAudit.cached }, { leases, ...overrides.auditService });
    shutdown.add("audit", () => auditService.close());

    // Before key-service, so it stops after it (last started stops first within a phase).
    let hsmGateway: HsmGatewayApp | undefined;
    let hsmClient: HsmClient | undefined;
    if (config.hsmGateway !== undefined) {
      const gateway = createHsmGatewayApp(config.hsmGateway, logger, overrides.hsmGateway);
      shutdown.add("apps", () => gateway.close());
      hsmGateway = gateway;
      // The direct transport: an HSM key's Encrypt pays for one AES-GCM in the token, not for a
      // Connect router round trip (serialization, async iterables) that costs several times more.
      hsmClient = new RemoteHsmClient(
        createDirectTransport(traced(tel, gateway.bindings, "hsm-gateway"), [], logger, {
          callingService: "key-service",
          clientInterceptors: tel.clientInterceptors("key-service"),
        }),
      );
    }

    const keysPolicyTransport = policyTransportFor("key-service");
    const forKeys = await cachedPolicyAuthority(keysPolicyTransport, "key-service", logger, shutdown, "apps");
    const keyServiceAuthority = forKeys.cached;
    const keyService = await createKeyServiceApp(
      config.keyService,
      logger,
      { authority: keyServiceAuthority, policyTransport: keysPolicyTransport, trustedProxies, ...(hsmClient === undefined ? {} : { hsm: hsmClient }) },
      { bus, leases, ...rateLimits, ...overrides.keyService },
    );
    shutdown.add("apps", () => keyService.close());

    const audit = new AuditPlumbing({ audit: config.audit, hmacKey, outboxDir: config.auditOutboxDir, telemetry: tel, logger, shutdown });
    const services: readonly AuditedService[] = ["key-service", "policy-service", "audit-service", "secrets-service"];
    for (const service of services) {
      await audit.open(
        service,
        // The direct transport: a shipped batch reaches AppendEvents as the outbox's bytes, not
        // serialized into a request and parsed back out of it by the Connect router.
        createDirectTransport(traced(tel, auditService.bindings, "audit-service", auditService.interceptors), [], logger, {
          callingService: service,
          clientInterceptors: tel.clientInterceptors(service),
        }),
      );
    }

    const forSecrets = await cachedPolicyAuthority(policyTransportFor("secrets-service"), "secrets-service", logger, shutdown, "apps");
    const secretsService = await createSecretsServiceApp(
      config.secretsService,
      logger,
      {
        authority: forSecrets.cached,
        keyTransport: createInMemoryTransport(keyService.bindings.map((binding) => audit.bind(binding, [], "key-service")), [], logger, {
          callingService: "secrets-service",
          clientInterceptors: tel.clientInterceptors("secrets-service"),
        }),
        iamTransport: createInMemoryTransport(
          policyService.bindings.map((binding) => audit.bind(binding, policyService.interceptors, "policy-service")),
          [],
          logger,
          { callingService: "secrets-service", clientInterceptors: tel.clientInterceptors("secrets-service") },
        ),
        trustedProxies,
      },
      { bus, leases, ...rateLimits, ...overrides.secretsService },
    );
    shutdown.add("apps", () => secretsService.close());
    const started = new KeyholdServer({
      bindings: [
        ...keyService.bindings.map((binding) => audit.bind(binding, [], "key-service")),
        ...policyService.bindings.map((binding) => audit.bind(binding, policyService.interceptors, "policy-service")),
        ...auditService.bindings.map((binding) => audit.bind(binding, auditService.interceptors, "audit-service")),
        ...secretsService.bindings.map((binding) => audit.bind(binding, [], "secrets-service")),
      ],
      interceptors: [],
      logger,
      ...frontDoorOptions(config.server, tel),
    });
    registerDevGauges(tel.meter, {
      shippers: audit.shippers,
      authorities: { "key-service": forKeys.cached, "audit-service": forAudit.cached, "secrets-service": forSecrets.cached },
      materialCache: keyService.materialCache,
      secretRecords: secretsService.recordCache,
      hsmGateway,
    });
    const addresses = await started.start();
    shutdown.add("server", () => started.stop());
    secretsService.scheduler.start();
    audit.attach(started);
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
      outboxes: audit.outboxes,
      shippers: audit.shippers,
      keyServiceAuthority,
      bootstrapCredential: policyService.bootstrapCredential,
      telemetry: tel,
      stop: () => shutdown.run(),
    };
  } catch (error) {
    await shutdown.run();
    throw error;
  }
}
