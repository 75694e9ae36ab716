// Client-side load balancing over a peer's replicas (what grpc-js does with its `dns` resolver and
// `round_robin` policy): the peer's host name is resolved to every address it stands for, each
// address gets its own connection, and each call picks the next address in turn among those whose
// connection is healthy. An address whose connection failed is skipped for a backoff (doubling per
// consecutive failure, with jitter) and tried again after it. The name is resolved again
// periodically and whenever a connection fails; the connection of an address that disappeared is
// closed once the calls it carries have finished (new calls no longer go there).
import type { Transport } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "./logger.ts";
import type { PeerResolver } from "./peer-resolver.ts";

/** One address's connection, as the balancer needs it. */
export interface EndpointConnection {
  /** Makes calls over this address's connection only. */
  readonly transport: Transport;
  /** Closes the connection. Called only when no call the balancer handed out is open on it. */
  close(): void;
  /** Whether a connection attempt is under way (an address with a connection up is preferred). */
  connecting?(): boolean;
}

/** How a call on an endpoint ended, for its health. */
export type CallOutcome =
  /** The peer answered (any answer, an error included): the connection works. */
  | "answered"
  /** The connection could not be made, or went away under the call. */
  | "connection-failed"
  /** Neither tells anything about the connection (e.g. the caller cancelled). */
  | "unknown";

/** An address calls may be sent to; hand it back with release() when the call is over. */
export interface Endpoint {
  readonly address: string;
  readonly transport: Transport;
}

export interface PeerBalancerOptions {
  /** The host name (or IP literal) to resolve. */
  readonly host: string;
  readonly resolver: PeerResolver;
  /** Opens (lazily) the connection to one resolved address. */
  readonly connect: (address: string) => EndpointConnection;
  /** Resolve the name again this often while the balancer is in use (default 30 s). */
  readonly refreshIntervalMs?: number;
  /** A failed connection resolves the name again, at most this often (default 1 s). */
  readonly minRefreshIntervalMs?: number;
  /** An address whose connection failed is skipped for this long at first (default 1 s) ... */
  readonly initialBackoffMs?: number;
  /** ... doubling per consecutive failure up to this (default 30 s); ±20 % jitter. */
  readonly maxBackoffMs?: number;
  /** For log lines. */
  readonly peerService: string;
  readonly logger?: Logger;
  readonly random?: () => number;
  /** Milliseconds on a monotonic clock (default performance.now). */
  readonly now?: () => number;
}

interface State extends Endpoint {
  readonly connection: EndpointConnection;
  /** Calls handed out and not yet released. */
  inFlight: number;
  /** Consecutive connection failures. */
  failures: number;
  /** Not picked before this time unless nothing else is left (0: healthy). */
  retryAt: number;
  /** No longer resolved: closes when its last call is released. */
  retired: boolean;
}

export class PeerBalancer {
  private readonly options: PeerBalancerOptions;
  private readonly now: () => number;
  private readonly random: () => number;
  /** The addresses of the last resolution, in its order. */
  private endpoints: State[] = [];
  /** Retired endpoints still carrying calls. */
  private readonly draining = new Set<State>();
  private next = 0;
  private resolving: Promise<void> | undefined;
  private lastResolvedAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: PeerBalancerOptions) {
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
  }

  /** The addresses calls are spread over now, in resolution order (for diagnostics and tests). */
  addresses(): readonly string[] {
    return this.endpoints.map((endpoint) => endpoint.address);
  }

  /** Resolves the name when no address is known yet. Rejects with UNAVAILABLE when that fails. */
  async ready(): Promise<void> {
    if (this.closed) throw new ConnectError(`the transport to ${this.options.peerService} is closed`, Code.Unavailable);
    this.startRefreshing();
    if (this.endpoints.length === 0) await this.refresh();
    if (this.endpoints.length === 0) throw new ConnectError(`${this.options.host} resolves to no address`, Code.Unavailable);
  }

  /**
   * The endpoint for the next call (after ready()): round robin over the healthy addresses,
   * preferring ones this call has not tried yet, then ones not in the middle of connecting (a
   * replica that accepts connections and hangs holds only the calls already waiting on it); when
   * every address is backing off, the one whose backoff ends first (a call is still worth a
   * connection attempt).
   */
  pick(tried: ReadonlySet<string> = new Set()): Endpoint {
    const count = this.endpoints.length;
    if (count === 0) throw new ConnectError(`${this.options.host} resolves to no address`, Code.Unavailable);
    const now = this.now();
    let best: { state: State; rank: number; index: number } | undefined;
    for (let step = 0; step < count; step++) {
      const index = (this.next + step) % count;
      const state = this.endpoints[index]!;
      const rank = (state.retryAt <= now ? 0 : 4) + (tried.has(state.address) ? 2 : 0) + (state.connection.connecting?.() === true ? 1 : 0);
      const better = best === undefined || rank < best.rank || (rank === best.rank && rank >= 4 && state.retryAt < best.state.retryAt);
      if (better) best = { state, rank, index };
      if (rank === 0) break;
    }
    this.next = (best!.index + 1) % count;
    best!.state.inFlight++;
    return best!.state;
  }

  /** Hands back an endpoint from pick() when its call is over, with what the call said about the connection. */
  release(endpoint: Endpoint, outcome: CallOutcome): void {
    const state = endpoint as State;
    state.inFlight--;
    if (outcome === "answered") {
      state.failures = 0;
      state.retryAt = 0;
    } else if (outcome === "connection-failed") {
      state.failures++;
      const base = Math.min(this.options.maxBackoffMs ?? 30_000, (this.options.initialBackoffMs ?? 1000) * 2 ** (state.failures - 1));
      state.retryAt = this.now() + base * (0.8 + 0.4 * this.random());
      this.options.logger?.debug("peer address failing, skipped for a while", { peer: this.options.peerService, failures: state.failures, backoffMs: Math.round(state.retryAt - this.now()) });
      if (this.now() - this.lastResolvedAt >= (this.options.minRefreshIntervalMs ?? 1000)) this.refreshInBackground();
    }
    if (state.retired && state.inFlight === 0) this.closeEndpoint(state);
  }

  /** Stops resolving and closes every connection (each once its calls are over). */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const state of this.endpoints) this.retire(state);
    this.endpoints = [];
  }

  /** Resolves the name now (also run periodically); keeps the last addresses when this fails. */
  refresh(): Promise<void> {
    this.resolving ??= this.resolve().finally(() => {
      this.resolving = undefined;
    });
    return this.resolving;
  }

  private async resolve(): Promise<void> {
    const { host, peerService, logger } = this.options;
    let addresses: string[];
    try {
      addresses = [...new Set(await this.options.resolver(host))];
      if (addresses.length === 0) throw new Error("no address");
    } catch (error) {
      const reason = error instanceof Error ? ("code" in error ? String(error.code) : error.message) : "unknown";
      if (this.endpoints.length > 0) {
        logger?.warn("cannot resolve the peer's name again, keeping its last addresses", { peer: peerService, host, reason });
        return;
      }
      throw new ConnectError(`cannot resolve ${host}: ${reason}`, Code.Unavailable, undefined, undefined, error);
    } finally {
      this.lastResolvedAt = this.now();
    }
    if (this.closed) return;
    const current = new Map(this.endpoints.map((state) => [state.address, state]));
    const next = addresses.map((address) => current.get(address) ?? this.open(address));
    const kept = new Set(next);
    const removed = this.endpoints.filter((state) => !kept.has(state));
    const added = next.length - (this.endpoints.length - removed.length);
    this.endpoints = next;
    this.next = this.next % next.length;
    for (const state of removed) this.retire(state);
    if (added > 0 || removed.length > 0) logger?.info("peer addresses changed", { peer: peerService, host, addresses: next.length, added, removed: removed.length });
  }

  private open(address: string): State {
    const connection = this.options.connect(address);
    return { address, transport: connection.transport, connection, inFlight: 0, failures: 0, retryAt: 0, retired: false };
  }

  private retire(state: State): void {
    state.retired = true;
    if (state.inFlight === 0) this.closeEndpoint(state);
    else this.draining.add(state);
  }

  private closeEndpoint(state: State): void {
    this.draining.delete(state);
    state.connection.close();
  }

  private refreshInBackground(): void {
    this.refresh().catch(() => {
      // Logged by resolve() when addresses are kept; with none, the next call reports it.
    });
  }

  private startRefreshing(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.refreshInBackground(), this.options.refreshIntervalMs ?? 30_000);
    // Resolution never keeps the process alive.
    this.timer.unref();
  }
}
