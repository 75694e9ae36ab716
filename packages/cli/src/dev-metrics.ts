// The process's own numbers as OTel observable instruments, read when /metrics is scraped: audit
// outbox lag per service, cache hits and misses, and (with an HSM) the session pool. Attributes
// are closed sets (service names, cache names): never key ids, principals or accounts.
import type { AuditShipper } from "@keyhold/audit-client";
import type { CachedPolicyAuthority } from "@keyhold/authz";
import type { HsmGatewayApp } from "@keyhold/hsm-gateway";
import type { Meter } from "@opentelemetry/api";

/** A cache's size and its lookups answered from memory or not. */
export interface CacheSource {
  readonly size: number;
  readonly stats: { readonly hits: number; readonly misses: number };
}

export interface DevGaugeSources {
  readonly shippers: Readonly<Partial<Record<string, AuditShipper>>>;
  /** The policy decision / credential cache of each service that asks policy-service. */
  readonly authorities: Readonly<Record<string, CachedPolicyAuthority>>;
  /** key-service's unwrapped key material cache (undefined in a process without key-service). */
  readonly materialCache: CacheSource | undefined;
  /** secrets-service's secret record cache (undefined in a process without secrets-service). */
  readonly secretRecords: CacheSource | undefined;
  readonly hsmGateway: HsmGatewayApp | undefined;
}

export function registerDevGauges(meter: Meter, sources: DevGaugeSources): void {
  const unshipped = meter.createObservableGauge("keyhold.audit.outbox.unshipped", {
    description: "Audit events committed to a service's outbox and not yet acknowledged by audit-service",
    unit: "{event}",
  });
  const oldestAge = meter.createObservableGauge("keyhold.audit.outbox.lag", {
    description: "Age of the oldest unshipped audit event (0 when none)",
    unit: "s",
  });
  meter.addBatchObservableCallback(async (observer) => {
    for (const [service, shipper] of Object.entries(sources.shippers)) {
      if (shipper === undefined) continue;
      try {
        const metrics = await shipper.metrics();
        observer.observe(unshipped, metrics.unshipped, { service });
        observer.observe(oldestAge, metrics.oldestAgeMs / 1000, { service });
      } catch {
        // A closed or failing outbox reports nothing this scrape; its health says why.
      }
    }
  }, [unshipped, oldestAge]);

  const hits = meter.createObservableCounter("keyhold.cache.hits", { description: "Cache lookups answered from the cache", unit: "{lookup}" });
  const misses = meter.createObservableCounter("keyhold.cache.misses", { description: "Cache lookups that missed", unit: "{lookup}" });
  const entries = meter.createObservableGauge("keyhold.cache.entries", { description: "Entries held by a cache", unit: "{entry}" });
  meter.addBatchObservableCallback((observer) => {
    const caches: [CacheSource | undefined, { readonly cache: string; readonly service: string }][] = [
      [sources.materialCache, { cache: "key-material", service: "key-service" }],
      [sources.secretRecords, { cache: "secret-records", service: "secrets-service" }],
    ];
    for (const [cache, attributes] of caches) {
      if (cache === undefined) continue;
      observer.observe(hits, cache.stats.hits, attributes);
      observer.observe(misses, cache.stats.misses, attributes);
      observer.observe(entries, cache.size, attributes);
    }
    for (const [service, authority] of Object.entries(sources.authorities)) {
      const attributes = { cache: "authorization", service };
      observer.observe(hits, authority.stats.hits, attributes);
      observer.observe(misses, authority.stats.misses, attributes);
    }
  }, [hits, misses, entries]);

  const gateway = sources.hsmGateway;
  if (gateway !== undefined) {
    const sessions = meter.createObservableGauge("keyhold.hsm.pool.sessions", { description: "HSM sessions by state (size, in_use, waiting callers, capacity)", unit: "{session}" });
    const waits = meter.createObservableCounter("keyhold.hsm.pool.waits", { description: "Calls that waited for a free HSM session", unit: "{wait}" });
    const waitTime = meter.createObservableCounter("keyhold.hsm.pool.wait.time", { description: "Total time calls waited for a free HSM session", unit: "s" });
    meter.addBatchObservableCallback((observer) => {
      const snapshot = gateway.context.metrics.snapshot();
      observer.observe(sessions, snapshot.pool.size, { state: "open" });
      observer.observe(sessions, snapshot.pool.inUse, { state: "in_use" });
      observer.observe(sessions, snapshot.pool.waiting, { state: "waiting" });
      observer.observe(sessions, snapshot.pool.capacity, { state: "capacity" });
      observer.observe(waits, snapshot.wait.count);
      observer.observe(waitTime, snapshot.wait.totalMs / 1000);
    }, [sessions, waits, waitTime]);
  }
}
