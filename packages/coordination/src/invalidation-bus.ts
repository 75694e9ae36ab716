// Cross-replica cache invalidation. A replica that changes something publishes (topic, key);
// every other replica's subscribers drop what they cached under that key. Delivery is
// best-effort: a message may be lost (Redis down, publish failed), so every cache fed by the
// bus also bounds how long an entry lives, and after a lost subscription the bus tells its
// subscribers to flush everything (they may have missed messages meanwhile).
// A replica never hears its own messages: it updated its own caches when it wrote.

/** What a subscriber hears: one key changed, or "anything may have changed". */
export type Invalidation = { readonly kind: "key"; readonly key: string } | { readonly kind: "flush" };

export type InvalidationHandler = (event: Invalidation) => void;

export interface InvalidationBus {
  /** Tells the other replicas that `key` of `topic` changed. Never throws, never waits. */
  publish(topic: string, key: string): void;
  /**
   * As publish, for a writer that answers only once the other replicas can no longer serve what
   * it replaced: resolves when the message is on its way to every subscriber (Redis took it), or
   * as soon as it cannot be (Redis unavailable: at once; a failed or timed-out command: after at
   * most the command timeout). Never rejects.
   */
  publishAndWait(topic: string, key: string): Promise<void>;
  /** Handler for the other replicas' messages on `topic`; returns an unsubscribe. */
  subscribe(topic: string, handler: InvalidationHandler): () => void;
  /**
   * False while other replicas' messages may be missed (the subscription is down): a cache may
   * then answer from its source instead. Subscribers get a flush once it is back.
   */
  readonly subscribed: boolean;
  close(): Promise<void>;
}

/** Calls each handler, isolating the others (and the bus) from a handler that throws. */
export function deliver(handlers: Iterable<InvalidationHandler>, event: Invalidation, onError: (error: unknown) => void): void {
  for (const handler of [...handlers]) {
    try {
      handler(event);
    } catch (error) {
      onError(error);
    }
  }
}

/**
 * The in-process stand-in: buses made on one hub act as replicas of each other (what tests of
 * two apps in one process use). A bus on a hub of its own, the default, has no other replicas:
 * publishing goes nowhere.
 */
export class InvalidationHub {
  readonly #buses = new Set<InProcessInvalidationBus>();

  /** A bus that hears every other bus of this hub. */
  bus(): InProcessInvalidationBus {
    return new InProcessInvalidationBus(this);
  }

  /** @internal */
  join(bus: InProcessInvalidationBus): void {
    this.#buses.add(bus);
  }

  /** @internal */
  leave(bus: InProcessInvalidationBus): void {
    this.#buses.delete(bus);
  }

  /** @internal */
  send(from: InProcessInvalidationBus, topic: string, key: string): void {
    for (const bus of this.#buses) if (bus !== from) bus.receive(topic, { kind: "key", key });
  }
}

export class InProcessInvalidationBus implements InvalidationBus {
  readonly #hub: InvalidationHub;
  readonly #handlers = new Map<string, Set<InvalidationHandler>>();

  constructor(hub: InvalidationHub = new InvalidationHub()) {
    this.#hub = hub;
    hub.join(this);
  }

  publish(topic: string, key: string): void {
    this.#hub.send(this, topic, key);
  }

  publishAndWait(topic: string, key: string): Promise<void> {
    this.publish(topic, key);
    return Promise.resolve();
  }

  /** Always: an in-process hub loses no message. */
  get subscribed(): boolean {
    return true;
  }

  subscribe(topic: string, handler: InvalidationHandler): () => void {
    let set = this.#handlers.get(topic);
    if (set === undefined) this.#handlers.set(topic, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  /** @internal */
  receive(topic: string, event: Invalidation): void {
    const handlers = this.#handlers.get(topic);
    if (handlers !== undefined) deliver(handlers, event, () => undefined);
  }

  close(): Promise<void> {
    this.#hub.leave(this);
    this.#handlers.clear();
    return Promise.resolve();
  }
}
