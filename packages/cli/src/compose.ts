// The pieces `keyhold dev` (every service in one process) and `keyhold serve <service>` (one
// service per process) both compose services from: ordered shutdown, telemetry-first bindings,
// a cached view of policy-service's decisions over any transport, and the audit plumbing (one
// durable outbox per audited service, its shipper to audit-service, the audit interceptor on
// every public binding, and the binding's health following its outbox's). The transports differ:
// in-process in dev, mTLS gRPC (createPeerTransport) in serve.
import { join } from "node:path";
import { AuditShipper, auditInterceptor, Outbox } from "@keyhold/audit-client";
import { CachedPolicyAuthority, RemotePolicyAuthority } from "@keyhold/authz";
import { AuditService, CryptoService, IamService, KeyService, SealService, SecretsService, StsService } from "@keyhold/proto";
import type { Transport } from "@connectrpc/connect";
import type { CallInterceptor, KeyholdServer, KeyholdServerOptions, Logger, ServerConfig, ServiceBinding, Telemetry } from "@keyhold/server-kit";

/** The services whose calls are audited, each with its own outbox and shipper. */
export type AuditedService = "key-service" | "policy-service" | "audit-service" | "secrets-service";

/** Decision and credential cache settings for services that ask policy-service. */
export const AUTHORITY_CACHE = { maxEntries: 100_000, ttlMs: 60_000, timeDependentTtlMs: 1_000 } as const;

/** How long stop() lets the shippers deliver what is in the outboxes. */
export const SHIPPER_STOP_DEADLINE_MS = 5_000;

/** Logged (at warn, so it shows at the default level and at KEYHOLD_LOG_LEVEL=warn) when KEYHOLD_AUDIT=off. */
export const AUDIT_OFF_WARNING = "KEYHOLD_AUDIT=off: AUDITING IS DISABLED, EVERY CALL GOES UNAUDITED; for benchmarking only, never for real use";

/** The public services each audited service serves, with the prefix of their audit actions. */
export const AUDITED_BINDINGS: Readonly<Record<string, { readonly service: AuditedService; readonly actionPrefix: string }>> = {
  [KeyService.typeName]: { service: "key-service", actionPrefix: "kms" },
  [CryptoService.typeName]: { service: "key-service", actionPrefix: "kms" },
  [SealService.typeName]: { service: "key-service", actionPrefix: "kms" },
  [IamService.typeName]: { service: "policy-service", actionPrefix: "iam" },
  [StsService.typeName]: { service: "policy-service", actionPrefix: "sts" },
  [AuditService.typeName]: { service: "audit-service", actionPrefix: "audit" },
  [SecretsService.typeName]: { service: "secrets-service", actionPrefix: "secrets" },
};

const SYSTEM_CLOCK = { now: () => new Date() };

type Step = () => Promise<unknown> | void;

/**
 * Shutdown in phases: the server stops taking calls, the shippers deliver what they can, the
 * outboxes close, then the apps, and audit-service last (it receives the final events and signs
 * the final checkpoint). Within a phase, last added stops first. A failing step is logged and the
 * others still run.
 */
export class Shutdown {
  private readonly phases: Record<"server" | "shippers" | "outboxes" | "apps" | "audit", Step[]> = { server: [], shippers: [], outboxes: [], apps: [], audit: [] };
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  add(phase: "server" | "shippers" | "outboxes" | "apps" | "audit", step: Step): void {
    this.phases[phase].push(step);
  }

  /** Runs `step` after everything else (e.g. the telemetry's own shutdown). */
  addLast(step: Step): void {
    this.phases.audit.unshift(step);
  }

  async run(): Promise<void> {
    const { server, shippers, outboxes, apps, audit } = this.phases;
    for (const phase of [server, shippers, outboxes, apps, audit]) {
      for (const step of phase.splice(0).reverse()) {
        try {
          await step();
        } catch (error) {
          this.logger.error("shutdown step failed", { cause: error instanceof Error ? error.message : typeof error });
        }
      }
    }
  }
}

/** The KeyholdServer settings that `keyhold dev` and `keyhold serve` both take from the server configuration and the telemetry. */
export function frontDoorOptions(server: ServerConfig, tel: Telemetry) {
  return {
    grpc: server.grpc,
    http: server.http,
    maxMessageBytes: server.maxMessageBytes,
    corsOrigins: server.corsOrigins,
    shutdownGraceMs: server.shutdownGraceMs,
    tls: server.tls,
    metrics: tel.metricsEndpoint,
    reusePort: server.reusePort,
  } satisfies Partial<KeyholdServerOptions>;
}

/** A service's bindings with its telemetry step first, then the app's own interceptors. */
export function traced(tel: Telemetry, bindings: readonly ServiceBinding[], service: string, appInterceptors: readonly CallInterceptor[] = []): ServiceBinding[] {
  return bindings.map((binding) => ({ ...binding, interceptors: [tel.serverInterceptor(service), ...appInterceptors, ...binding.interceptors] }));
}

/**
 * policy-service's decisions as `callingService` sees them: a RemotePolicyAuthority over
 * `transport` (its change stream open) behind the local cache. Both close in the given phase.
 */
export async function cachedPolicyAuthority(
  transport: Transport,
  callingService: string,
  logger: Logger,
  shutdown: Shutdown,
  phase: "apps" | "audit",
): Promise<{ readonly remote: RemotePolicyAuthority; readonly cached: CachedPolicyAuthority }> {
  const remote = new RemotePolicyAuthority(transport, { logger: logger.child({ service: callingService }) });
  shutdown.add(phase, () => remote.close());
  await remote.start();
  const cached = new CachedPolicyAuthority(remote, AUTHORITY_CACHE);
  shutdown.add(phase, () => cached.close());
  return { remote, cached };
}

export interface AuditPlumbingOptions {
  /** Whether public calls are audited (false only with KEYHOLD_AUDIT=off). */
  readonly audit: boolean;
  /** The HMAC key of encryption context values (required when audit is on). */
  readonly hmacKey: Uint8Array | undefined;
  /** Where `<service>-audit-outbox.sqlite` files live. */
  readonly outboxDir: string;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly shutdown: Shutdown;
}

/** The audit outboxes and shippers of the services one process runs, and the bindings they audit. */
export class AuditPlumbing {
  readonly outboxes: Partial<Record<AuditedService, Outbox>> = {};
  readonly shippers: Partial<Record<AuditedService, AuditShipper>> = {};
  private server: KeyholdServer | undefined;
  private readonly options: AuditPlumbingOptions;

  constructor(options: AuditPlumbingOptions) {
    this.options = options;
  }

  get audited(): boolean {
    return this.options.audit;
  }

  /**
   * Opens `service`'s outbox and starts its shipper to audit-service over `transport` (which
   * must mark its calls as coming from `service`). Nothing when auditing is off.
   */
  async open(service: AuditedService, transport: Transport): Promise<void> {
    if (!this.options.audit) return;
    const { logger, shutdown } = this.options;
    const outbox = await Outbox.open({
      path: join(this.options.outboxDir, `${service}-audit-outbox.sqlite`),
      service,
      onHealthChange: (healthy, cause) => {
        if (healthy) logger.info("audit outbox healthy again", { service });
        else logger.error("audit outbox unhealthy: calls fail closed", { service, cause: cause?.message ?? "" });
        // Until the server exists a change is only logged; afterwards the service's public
        // bindings follow it (NOT_SERVING / SERVING).
        for (const typeName of publicServicesOf(service)) this.server?.health.setServing(typeName, healthy);
      },
    });
    shutdown.add("outboxes", () => outbox.close());
    this.outboxes[service] = outbox;
    const shipper = new AuditShipper({ outbox, transport, logger: logger.child({ service, component: "audit-shipper" }) });
    shipper.start();
    shutdown.add("shippers", () => shipper.stop(SHIPPER_STOP_DEADLINE_MS));
    this.shippers[service] = shipper;
  }

  /**
   * `binding` as `service` serves it: its telemetry step, then (for a public binding, auditing on)
   * the audit interceptor, then the app's interceptors and its own. Fails closed: an audited
   * binding without its outbox refuses to start.
   */
  bind(binding: ServiceBinding, appInterceptors: readonly CallInterceptor[], service: string): ServiceBinding {
    const audited = AUDITED_BINDINGS[binding.service.typeName];
    const audit: CallInterceptor[] = [];
    const { hmacKey, telemetry } = this.options;
    if (this.options.audit && audited !== undefined) {
      const outbox = this.outboxes[audited.service];
      if (outbox === undefined || hmacKey === undefined) throw new Error(`no audit outbox for ${audited.service}`);
      audit.push(auditInterceptor({ service: audited.service, actionPrefix: audited.actionPrefix, outbox, clock: SYSTEM_CLOCK, hmacKey }));
    }
    return { ...binding, interceptors: [telemetry.serverInterceptor(service), ...audit, ...appInterceptors, ...binding.interceptors] };
  }

  /** From now on the server's health follows the outboxes; sets every binding's health now. */
  attach(server: KeyholdServer): void {
    this.server = server;
    for (const binding of server.bindings) {
      const audited = AUDITED_BINDINGS[binding.service.typeName];
      server.health.setServing(binding.service.typeName, audited === undefined || !this.options.audit || this.outboxes[audited.service]?.healthy === true);
    }
  }
}

function publicServicesOf(service: AuditedService): string[] {
  return Object.entries(AUDITED_BINDINGS).filter(([, audited]) => audited.service === service).map(([typeName]) => typeName);
}
