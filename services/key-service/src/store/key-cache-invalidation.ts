// Keeps the caches of key-service replicas that share one database consistent: each write of
// this replica is published on the invalidation bus, and each message from another replica
// drops the record (and, for a key version, its unwrapped material) from this one's caches.
// A "flush" (the bus lost its subscription and may have missed messages) drops everything.
// Messages carry ids only: "key <account>/<key id>", "alias <account>/<alias>", "version <id>",
// "aliases".
import type { InvalidationBus } from "@keyhold/coordination";
import type { CachingKeyStore, KeyCacheChange } from "./caching-key-store.ts";

export const KEY_CACHE_TOPIC = "key-service.records";

export function encodeKeyCacheChange(change: KeyCacheChange): string {
  switch (change.kind) {
    case "key":
      return `key ${change.accountId}/${change.keyId}`;
    case "alias":
      return `alias ${change.accountId}/${change.aliasName}`;
    case "version":
      return `version ${change.versionId}`;
    case "aliases":
      return "aliases";
  }
}

/** What a message from another replica evicts. */
export interface KeyCaches {
  readonly records: Pick<CachingKeyStore, "invalidateKey" | "invalidateAlias" | "invalidateVersion" | "invalidateAliases" | "invalidateAll">;
  /** Unwrapped material of one key version, and all of it. */
  readonly materials: { forget(versionId: string): void; clear(): void };
}

/** Subscribes `caches` to the other replicas' changes; returns an unsubscribe. */
export function followKeyCacheChanges(bus: InvalidationBus, caches: KeyCaches): () => void {
  return bus.subscribe(KEY_CACHE_TOPIC, (event) => {
    if (event.kind === "flush") {
      caches.records.invalidateAll();
      caches.materials.clear();
      return;
    }
    const space = event.key.indexOf(" ");
    const kind = space < 0 ? event.key : event.key.slice(0, space);
    const rest = event.key.slice(space + 1);
    const slash = rest.indexOf("/");
    switch (kind) {
      case "key":
        if (slash > 0) caches.records.invalidateKey(rest.slice(0, slash), rest.slice(slash + 1));
        return;
      case "alias":
        if (slash > 0) caches.records.invalidateAlias(rest.slice(0, slash), rest.slice(slash + 1));
        return;
      case "version":
        caches.records.invalidateVersion(rest);
        caches.materials.forget(rest);
        return;
      case "aliases":
        caches.records.invalidateAliases();
        return;
      default:
        // A message this version does not know: be safe.
        caches.records.invalidateAll();
    }
  });
}
