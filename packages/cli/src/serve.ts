// `keyhold serve <service>`: one Keyhold service alone in its process, on its own gRPC and HTTP
// ports with TLS, reaching its peers (KEYHOLD_*_ADDR) over gRPC with mutual TLS as itself (its
// certificate's URI SAN spiffe://keyhold.internal/service/<service>; the peers mark its calls
// as coming from it, as the in-process transports of `keyhold dev` do).
//
// Composition is the same as in `keyhold dev` (compose.ts), only the transports differ:
//   - policy-service: its app; its public calls (IamService, StsService) audited into its own
//     outbox, shipped to audit-service over the network;
//   - audit-service: policy decisions from policy-service over the network; its own public calls
//     (AuditService) audited into its own outbox, which it ships to itself in-process (no network
//     hop, and no dependency on its own port being reachable);
//   - hsm-gateway: its app (internal: it answers Keyhold services only), not audited;
//   - key-service: policy-service (decisions and resource policies) and, when
//     KEYHOLD_HSM_GATEWAY_ADDR is set, hsm-gateway over the network; listens with SO_REUSEPORT
//     when KEYHOLD_REUSE_PORT=true so replicas share one address;
//   - secrets-service: key-service and policy-service's IamService over the network, as
//     secrets-service forwarding the principal it acts for; its scheduler runs here.
import type { Transport } from "@connectrpc/connect";
import { openCoordination, quotasEnabled, RateLimits } from "@keyhold/coordination";
import { createAuditServiceApp } from "@keyhold/audit-service";
import { RemoteHsmClient } from "@keyhold/hsm-client";
import { createHsmGatewayApp } from "@keyhold/hsm-gateway";
import { createKeyServiceApp } from "@keyhold/key-service";
import { createPolicyServiceApp } from "@keyhold/policy-service";
import { createSecretsServiceApp } from "@keyhold/secrets-service";
import {
  createInMemoryTransport, createPeerTransport, KeyholdServer, loadPeerTls,
  type BoundAddresses, type KeyholdServiceName, type Logger, type PeerTls, type ServiceBinding, type Telemetry,
} from "@keyhold/server-kit";
import { AUDIT_OFF_WARNING, AuditPlumbing, cachedPolicyAuthority, frontDoorOptions, Shutdown, traced } from "./compose.ts";
import { loadAuditHmacKey, type ServeConfig } from "./config.ts";
import { registerDevGauges, type DevGaugeSources } from "./dev-metrics.ts";

export interface ServedInstance {
  readonly addresses: BoundAddresses;
  readonly server: KeyholdServer;
  /** policy-service only: the administrator API key when this start generated it. */
  readonly bootstrapCredential: string | undefined;
  stop(): Promise<void>;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not set`);
  return value;
}

export async function startService(config: ServeConfig, logger: Logger, tel: Telemetry): Promise<ServedInstance> {
  const shutdown = new Shutdown(logger);
  const service = config.service;
  try {
    if (!config.audit) logger.warn(AUDIT_OFF_WARNING, { audit: "off" });
    const tls: PeerTls = await loadPeerTls(config.peerTls);
    // What replicas share (Redis when KEYHOLD_REDIS_URL is set; in-process otherwise): closed last.
    const coordination = await openCoordination(config.coordination, logger);
    shutdown.addLast(() => coordination.close());
    const { bus, leases } = coordination;
    const quotas = config.coordination.quotas;
    const rateLimits = quotasEnabled(quotas) ? { rateLimits: new RateLimits({ limiter: coordination.limiter, quotas, meter: tel.meter }) } : {};
    const trustedProxies = config.server.trustedProxies;
    // A peer's name may resolve to several replicas: the transport spreads calls over all of them.
    const peer = (peerService: KeyholdServiceName, address: string): Transport => {
      const transport = createPeerTransport({
        address,
        peerService,
        tls,
        callingService: service,
        clientInterceptors: tel.clientInterceptors(service),
        defaultTimeoutMs: config.peerTimeoutMs,
        maxMessageBytes: config.server.maxMessageBytes,
        logger,
      });
      // After the apps and shippers are done with it: its connections close once their calls are over.
      shutdown.addLast(() => transport.close());
      return transport;
    };
    const hmacKey = config.audit && service !== "hsm-gateway" ? await loadAuditHmacKey(config.auditHmacKeyFile) : undefined;
    const audit = new AuditPlumbing({ audit: config.audit, hmacKey, outboxDir: config.auditOutboxDir, telemetry: tel, logger, shutdown });
    const toAudit = () => peer("audit-service", required(config.peers.auditService, "KEYHOLD_AUDIT_SERVICE_ADDR"));
    const toPolicy = () => peer("policy-service", required(config.peers.policyService, "KEYHOLD_POLICY_SERVICE_ADDR"));

    let bindings: ServiceBinding[];
    // The process's own numbers on GET /metrics (outbox lag, caches, HSM pool), as in keyhold dev.
    const gauges: { -readonly [K in keyof DevGaugeSources]: DevGaugeSources[K] } = { shippers: audit.shippers, authorities: {}, materialCache: undefined, secretRecords: undefined, hsmGateway: undefined };
    let bootstrapCredential: string | undefined;
    let afterStart: () => void = () => {};
    switch (service) {
      case "policy-service": {
        const app = await createPolicyServiceApp(required(config.policyService, "policy-service config"), logger, {}, { trustedProxies });
        shutdown.add("apps", () => app.close());
        bootstrapCredential = app.bootstrapCredential;
        await audit.open("policy-service", toAudit());
        bindings = app.bindings.map((binding) => audit.bind(binding, app.interceptors, service));
        break;
      }
      case "audit-service": {
        const { cached } = await cachedPolicyAuthority(toPolicy(), service, logger, shutdown, "apps");
        gauges.authorities = { [service]: cached };
        const app = await createAuditServiceApp(required(config.auditService, "audit-service config"), logger, { authority: cached }, { leases });
        shutdown.add("audit", () => app.close());
        await audit.open(
          "audit-service",
          createInMemoryTransport(traced(tel, app.bindings, service, app.interceptors), [], logger, {
            callingService: service,
            clientInterceptors: tel.clientInterceptors(service),
          }),
        );
        bindings = app.bindings.map((binding) => audit.bind(binding, app.interceptors, service));
        break;
      }
      case "hsm-gateway": {
        const app = createHsmGatewayApp(required(config.hsmGateway, "hsm-gateway config"), logger);
        shutdown.add("apps", () => app.close());
        gauges.hsmGateway = app;
        bindings = traced(tel, app.bindings, service);
        break;
      }
      case "key-service": {
        const policyTransport = toPolicy();
        const { cached } = await cachedPolicyAuthority(policyTransport, service, logger, shutdown, "apps");
        gauges.authorities = { [service]: cached };
        const hsm = config.peers.hsmGateway === undefined ? undefined : new RemoteHsmClient(peer("hsm-gateway", config.peers.hsmGateway));
        const app = await createKeyServiceApp(
          required(config.keyService, "key-service config"),
          logger,
          { authority: cached, policyTransport, trustedProxies, ...(hsm === undefined ? {} : { hsm }) },
          { startJobs: config.keyJobs, bus, leases, ...rateLimits },
        );
        shutdown.add("apps", () => app.close());
        gauges.materialCache = app.materialCache;
        await audit.open("key-service", toAudit());
        bindings = app.bindings.map((binding) => audit.bind(binding, [], service));
        break;
      }
      case "secrets-service": {
        const iamTransport = toPolicy();
        const { cached } = await cachedPolicyAuthority(iamTransport, service, logger, shutdown, "apps");
        gauges.authorities = { [service]: cached };
        const app = await createSecretsServiceApp(required(config.secretsService, "secrets-service config"), logger, {
          authority: cached,
          keyTransport: peer("key-service", required(config.peers.keyService, "KEYHOLD_KEY_SERVICE_ADDR")),
          iamTransport,
          trustedProxies,
        }, { bus, leases, ...rateLimits });
        shutdown.add("apps", () => app.close());
        gauges.secretRecords = app.recordCache;
        await audit.open("secrets-service", toAudit());
        bindings = app.bindings.map((binding) => audit.bind(binding, [], service));
        afterStart = () => app.scheduler.start();
        break;
      }
    }
    const server = new KeyholdServer({
      bindings,
      interceptors: [],
      logger,
      ...frontDoorOptions(config.server, tel),
      // Its handlers call peers over the network: they carry each incoming call's deadline.
      callScope: true,
    });
    registerDevGauges(tel.meter, gauges);
    const addresses = await server.start();
    shutdown.add("server", () => server.stop());
    afterStart();
    audit.attach(server);
    return { addresses, server, bootstrapCredential, stop: () => shutdown.run() };
  } catch (error) {
    await shutdown.run();
    throw error;
  }
}
