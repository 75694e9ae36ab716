// Replicas of policy-service share one database; each one's store tells only its own listeners
// of the changes it commits. This relays them: every committed change is published on the
// invalidation bus, and every change another replica published is handed to this replica's
// change listeners (its authority's compiled sets, and each WatchChanges stream, which is how
// other services' decision caches hear of it). When the bus lost its subscription and may have
// missed changes, listeners get one event at the database's current sequence: every listener
// treats any event as "flush everything".
// Only onChange differs from the wrapped store (a Proxy, so the store's other methods, whatever
// their signatures, pass through untouched).
import type { InvalidationBus } from "@keyhold/coordination";
import type { Logger } from "@keyhold/server-kit";
import type { ChangeEvent, ChangeKind } from "./records.ts";
import type { PolicyStore } from "./policy-store.ts";

export const POLICY_CHANGE_TOPIC = "policy-service.changes";

const KINDS: ReadonlySet<string> = new Set<ChangeKind>(["account", "principal", "credential", "policy", "resource-policy", "grant"]);

export interface SharedChanges {
  readonly store: PolicyStore;
  close(): void;
}

export function withSharedChanges(store: PolicyStore, bus: InvalidationBus, logger: Logger): SharedChanges {
  const remoteListeners = new Set<(event: ChangeEvent) => void>();
  const emit = (event: ChangeEvent) => {
    for (const listener of [...remoteListeners]) {
      try {
        listener(event);
      } catch (error) {
        logger.error("change listener failed", { cause: error instanceof Error ? error.message : typeof error });
      }
    }
  };
  const unpublish = store.onChange((event) => bus.publish(POLICY_CHANGE_TOPIC, `${event.sequence} ${event.kind}`));
  const unsubscribe = bus.subscribe(POLICY_CHANGE_TOPIC, (message) => {
    if (message.kind === "flush") {
      emit({ sequence: store.currentSequence(), kind: "policy" });
      return;
    }
    const [sequence, kind] = message.key.split(" ");
    if (sequence === undefined || !/^\d+$/.test(sequence) || kind === undefined || !KINDS.has(kind)) {
      emit({ sequence: store.currentSequence(), kind: "policy" });
      return;
    }
    emit({ sequence: BigInt(sequence), kind: kind as ChangeKind });
  });
  const onChange = (listener: (event: ChangeEvent) => void): (() => void) => {
    const local = store.onChange(listener);
    remoteListeners.add(listener);
    return () => {
      local();
      remoteListeners.delete(listener);
    };
  };
  const shared = new Proxy(store, {
    get(target, property) {
      if (property === "onChange") return onChange;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    store: shared,
    close() {
      unsubscribe();
      unpublish();
      remoteListeners.clear();
    },
  };
}
