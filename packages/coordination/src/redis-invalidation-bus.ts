// The InvalidationBus over Redis pub/sub. Publishing uses the shared command connection;
// subscribing needs a connection of its own (a subscribed connection runs no other command).
// Each message is "<bus id> <key>" on channel "keyhold:invalidate:<topic>", so a bus skips its
// own. Whenever the subscription is (re)established, after a start or a lost connection, every
// subscriber gets a flush: messages published meanwhile were never delivered.
import { randomUUID } from "node:crypto";
import type { Logger } from "@keyhold/server-kit";
import { deliver, type InvalidationBus, type InvalidationHandler } from "./invalidation-bus.ts";
import { describe, type RedisConnection } from "./redis-connection.ts";

const PREFIX = "keyhold:invalidate:";

export interface BusCounters {
  published: number;
  /** Publications lost because Redis was unavailable or the command failed. */
  publishFailures: number;
  received: number;
  /** Flushes handed to subscribers (one per (re)subscription). */
  flushes: number;
}

export class RedisInvalidationBus implements InvalidationBus {
  readonly #publisher: RedisConnection;
  readonly #subscriber: RedisConnection;
  readonly #logger: Logger;
  readonly #id = randomUUID();
  readonly #handlers = new Map<string, Set<InvalidationHandler>>();
  readonly counters: BusCounters = { published: 0, publishFailures: 0, received: 0, flushes: 0 };

  /** `publisher` is shared; the bus makes and owns its subscriber connection. */
  constructor(publisher: RedisConnection, logger: Logger) {
    this.#publisher = publisher;
    this.#subscriber = publisher.duplicate("keyhold-bus");
    this.#logger = logger.child({ component: "invalidation-bus" });
    this.#subscriber.client.on("ready", () => void this.#resubscribe());
    this.#subscriber.client.on("message", (channel: string, message: string) => this.#onMessage(channel, message));
  }

  /** Connects the subscriber (never rejects; see RedisConnection.start). */
  start(): Promise<void> {
    return this.#subscriber.start();
  }

  /** True while the subscription stands. */
  get subscribed(): boolean {
    return this.#subscriber.connected;
  }

  publish(topic: string, key: string): void {
    void this.#send(topic, key);
  }

  async publishAndWait(topic: string, key: string): Promise<void> {
    // During the cool-down after a failed command (a hanging server), sent without waiting for
    // it: a writer waits at most one command timeout per cool-down.
    const sent = this.#send(topic, key);
    if (this.#publisher.available) await sent;
  }

  /** Publishes; resolves once Redis answered or the attempt failed (never rejects). */
  #send(topic: string, key: string): Promise<void> {
    this.counters.published++;
    // Sent even during the cool-down after a failed command (publish() is awaited by no one);
    // only a closed connection drops it at once.
    if (!this.#publisher.connected) {
      this.counters.publishFailures++;
      this.#logger.debug("invalidation not published: redis unavailable", { topic });
      return Promise.resolve();
    }
    return this.#publisher.client.publish(PREFIX + topic, `${this.#id} ${key}`).then(
      () => undefined,
      (error: unknown) => {
        this.counters.publishFailures++;
        this.#publisher.failed("publish", error);
      },
    );
  }

  subscribe(topic: string, handler: InvalidationHandler): () => void {
    let set = this.#handlers.get(topic);
    if (set === undefined) {
      this.#handlers.set(topic, (set = new Set()));
      if (this.#subscriber.connected) {
        this.#subscriber.client.subscribe(PREFIX + topic).catch((error: unknown) => {
          // The next reconnection subscribes again (and flushes); until then this topic is deaf.
          this.#logger.warn("could not subscribe", { topic, error: describe(error) });
        });
      }
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  async #resubscribe(): Promise<void> {
    const channels = [...this.#handlers.keys()].map((topic) => PREFIX + topic);
    try {
      if (channels.length > 0) await this.#subscriber.client.subscribe(...channels);
    } catch (error) {
      this.#logger.warn("could not subscribe: retrying on reconnection", { error: describe(error) });
      this.#subscriber.client.disconnect(true);
      return;
    }
    // Only once subscribed: a message published after this point is heard.
    for (const handlers of this.#handlers.values()) {
      this.counters.flushes++;
      deliver(handlers, { kind: "flush" }, (error) => this.#handlerFailed(error));
    }
  }

  #onMessage(channel: string, message: string): void {
    if (!channel.startsWith(PREFIX)) return;
    const space = message.indexOf(" ");
    if (space < 0 || message.slice(0, space) === this.#id) return;
    const handlers = this.#handlers.get(channel.slice(PREFIX.length));
    if (handlers === undefined) return;
    this.counters.received++;
    deliver(handlers, { kind: "key", key: message.slice(space + 1) }, (error) => this.#handlerFailed(error));
  }

  #handlerFailed(error: unknown): void {
    this.#logger.error("invalidation handler failed", { error: describe(error) });
  }

  async close(): Promise<void> {
    this.#handlers.clear();
    await this.#subscriber.close();
  }
}
