// Keeps the record caches of secrets-service replicas that share one database consistent: each
// write of this replica is published on the invalidation bus, and each message from another
// replica drops that secret (record, labels, tags, sealed versions) from this one's cache. A
// "flush" (the bus lost its subscription and may have missed messages) drops everything.
// Messages carry the secret's internal id only: "secret <secret id>".
import type { InvalidationBus } from "@keyhold/coordination";
import type { SecretRecordCache } from "./secret-record-cache.ts";

export const SECRET_CACHE_TOPIC = "secrets-service.records";

export function encodeSecretCacheChange(secretId: string): string {
  return `secret ${secretId}`;
}

/** Subscribes `cache` to the other replicas' changes; returns an unsubscribe. */
export function followSecretCacheChanges(bus: InvalidationBus, cache: Pick<SecretRecordCache, "invalidateSecret" | "invalidateAll">): () => void {
  return bus.subscribe(SECRET_CACHE_TOPIC, (event) => {
    if (event.kind === "flush") {
      cache.invalidateAll();
      return;
    }
    const space = event.key.indexOf(" ");
    const kind = space < 0 ? event.key : event.key.slice(0, space);
    const secretId = event.key.slice(space + 1);
    if (kind === "secret" && space > 0 && secretId !== "") cache.invalidateSecret(secretId);
    // A message this version does not know: be safe.
    else cache.invalidateAll();
  });
}
