// A Connect transport to another Keyhold service over the network: gRPC over HTTP/2
// (@connectrpc/connect-node's createGrpcTransport) with mutual TLS: this service's certificate is its client certificate (the callee marks the calls as coming
// from this service, service-identity.ts), and the callee's server certificate must be the peer
// service's own (its DNS SAN and its SPIFFE id), whatever address it was reached at.
//
// The peer's host name may stand for several replicas: it is resolved to all its addresses, each
// gets its own HTTP/2 session, and calls go round robin over the healthy ones (peer-balancer.ts).
//
// Every call made while serving an incoming call carries what is left of that call's deadline (and
// is cancelled with it): the call scope (call-scope.ts) says which call that is. Calls to methods
// whose proto declares idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT are retried on UNAVAILABLE
// or a connection lost under the call (the peer restarting, a replica going away: the retry goes
// to another address when there is one) with exponential backoff and jitter, never past the
// deadline.
// Other methods are tried once.
import { readFile } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import { checkServerIdentity as defaultCheckServerIdentity, connect as tlsConnect, type PeerCertificate } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { currentCall } from "./call-scope.ts";
import type { Logger } from "./logger.ts";
import { PeerBalancer, type CallOutcome, type Endpoint, type EndpointConnection } from "./peer-balancer.ts";
import { dnsPeerResolver, parsePeerAddress, type PeerResolver } from "./peer-resolver.ts";
import { serviceOfPeerIdentity, serviceSpiffeId, type KeyholdServiceName } from "./service-identity.ts";
import { parseSubjectAltName } from "./tls.ts";

/** PEM material of a service's link to its peers. */
export interface PeerTls {
  /**
   * This service's certificate (URI SAN spiffe://keyhold.internal/service/<this service>) and key.
   * Absent: no client certificate (an outside client, e.g. a test or an application, that wants
   * the retries and the server identity check; it authenticates by other means).
   */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** The CA that signs service certificates: the peer's server certificate must chain to it. */
  readonly ca: Buffer;
}

export interface PeerRetryOptions {
  /** Attempts in all, the first included (default 4). */
  readonly maxAttempts?: number;
  /** Delay before the first retry (default 50 ms); doubles per retry, with full jitter. */
  readonly initialBackoffMs?: number;
  /** Largest delay between attempts (default 1000 ms). */
  readonly maxBackoffMs?: number;
}

export interface PeerBalancingOptions {
  /** Where the peer's host name points (default: node:dns lookup, every address of both families). */
  readonly resolver?: PeerResolver;
  /** Resolve the name again this often while the transport is in use (default 30 s). */
  readonly refreshIntervalMs?: number;
  /** An address whose connection failed is skipped for this long (default 1 s), doubling per failure ... */
  readonly initialBackoffMs?: number;
  /** ... up to this (default 30 s). */
  readonly maxBackoffMs?: number;
}

export interface PeerTransportOptions {
  /** host:port of the peer's gRPC port; a name resolving to several addresses is several replicas. */
  readonly address: string;
  /** The peer service: the name its server certificate must carry (DNS SAN and SPIFFE id). */
  readonly peerService: KeyholdServiceName;
  /** TLS with this service's client certificate; undefined: plaintext HTTP/2 (tests only). */
  readonly tls: PeerTls | undefined;
  /** The service making the calls (for log lines). */
  readonly callingService: string;
  /** Client interceptors run around each attempt (Telemetry.clientInterceptors: span, traceparent). */
  readonly clientInterceptors?: readonly Interceptor[];
  /** The timeout of a call that sets none and is not made while serving a call with a deadline. */
  readonly defaultTimeoutMs?: number;
  readonly retry?: PeerRetryOptions;
  readonly balancing?: PeerBalancingOptions;
  readonly maxMessageBytes?: number;
  readonly logger?: Logger;
  /** For tests: the random source of the backoff jitter. */
  readonly random?: () => number;
}

/** Whether a failed call to `method` may be sent again: its proto says it changes nothing, or nothing more when repeated. */
export function isRetriable(method: DescMethod): boolean {
  return method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS || method.idempotency === MethodOptions_IdempotencyLevel.IDEMPOTENT;
}

/**
 * Checks the peer's server certificate: the usual host name check against `peerService` (its DNS
 * SAN), and its SPIFFE id must be that service's. Returns an Error to refuse the connection.
 */
export function peerServerIdentityCheck(peerService: KeyholdServiceName): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const hostError = defaultCheckServerIdentity(peerService, cert);
    if (hostError !== undefined) return hostError;
    const identity = parseSubjectAltName(cert.subjectaltname ?? "");
    if (serviceOfPeerIdentity(identity) !== peerService) {
      return new Error(`the server certificate is not ${peerService}'s: it must carry exactly the URI SAN ${serviceSpiffeId(peerService)}`);
    }
    return undefined;
  };
}

/** The timeout a call gets: the smallest of its own, what is left of the incoming call's, and the default when neither exists. */
function effectiveTimeout(own: number | undefined, incoming: number | undefined, fallback: number | undefined): number | undefined {
  if (own === undefined && incoming === undefined) return fallback;
  if (own === undefined) return incoming;
  if (incoming === undefined) return own;
  return Math.min(own, incoming);
}

function combine(own: AbortSignal | undefined, incoming: AbortSignal | undefined): AbortSignal | undefined {
  if (own === undefined) return incoming;
  if (incoming === undefined) return own;
  return AbortSignal.any([own, incoming]);
}

/** Node error codes of a connection that went away under a call (the peer process died or reset it). */
const CONNECTION_LOST: ReadonlySet<string> = new Set(["ECONNRESET", "EPIPE", "ERR_HTTP2_INVALID_STREAM", "ERR_HTTP2_STREAM_ERROR", "ERR_HTTP2_GOAWAY_SESSION"]);
/** ... and of one that could not be made. */
const CONNECTION_FAILED: ReadonlySet<string> = new Set([...CONNECTION_LOST, "ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"]);

/** Whether a Node error code in `error`'s cause chain is one of `codes`. */
function hasNodeCode(error: unknown, codes: ReadonlySet<string>): boolean {
  const seen = new Set<unknown>();
  for (let reason: unknown = error; reason instanceof Error && !seen.has(reason); reason = reason.cause) {
    seen.add(reason);
    const code = (reason as { code?: unknown }).code;
    if (typeof code === "string" && codes.has(code)) return true;
  }
  return false;
}

/**
 * Whether a failed attempt may be worth another: UNAVAILABLE, or the connection lost under the
 * call (connect-node answers ABORTED for a reset connection, CANCELED for a stream its dying
 * session cancelled: the caller did not cancel, which is checked before). Only ever asked for
 * retriable methods.
 */
function transient(error: unknown): boolean {
  const connectError = ConnectError.from(error);
  if (connectError.code === Code.Unavailable || connectError.code === Code.Canceled) return true;
  return connectError.code === Code.Aborted && hasNodeCode(connectError, CONNECTION_LOST);
}

function deadlineExceeded(what: string): ConnectError {
  return new ConnectError(`${what}: the deadline passed before the call could be made`, Code.DeadlineExceeded);
}

/** A peer transport: a Connect transport that can be closed (its connections close once their calls are over). */
export interface PeerTransport extends Transport {
  close(): void;
}

interface PeerConnection extends EndpointConnection {
  /** connect-node's session state: "error" when the last connection attempt failed or the connection died. */
  state(): ReturnType<Http2SessionManager["state"]>;
}

/**
 * The HTTP/2 connection to one resolved address. The URL (hence :authority) stays the configured
 * host:port, and TLS verifies the peer service's certificate exactly as for one address: only the
 * socket is dialled to `ip`.
 */
function endpointConnection(options: PeerTransportOptions, ip: string, port: number): PeerConnection {
  const scheme = options.tls === undefined ? "http" : "https";
  const baseUrl = `${scheme}://${options.address}`;
  const tls = options.tls;
  const dial = (): Duplex =>
    tls === undefined
      ? netConnect({ host: ip, port })
      : tlsConnect({
          host: ip,
          port,
          ...(tls.cert === undefined || tls.key === undefined ? {} : { cert: tls.cert, key: tls.key }),
          ca: tls.ca,
          servername: options.peerService,
          checkServerIdentity: peerServerIdentityCheck(options.peerService),
          minVersion: "TLSv1.2",
          ALPNProtocols: ["h2"],
        });
  const session = new Http2SessionManager(baseUrl, { pingIntervalMs: 30_000 }, { createConnection: dial });
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager: session,
    interceptors: [...(options.clientInterceptors ?? [])],
    ...(options.maxMessageBytes === undefined ? {} : { readMaxBytes: options.maxMessageBytes, writeMaxBytes: options.maxMessageBytes }),
  });
  return {
    transport,
    // Only when the balancer has no call open on it: nothing is cut.
    close: () => session.abort(),
    state: () => session.state(),
  };
}

/** Waits for `promise`, but not past the deadline or the signal. */
async function within<T>(promise: Promise<T>, left: number | undefined, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (left === undefined && signal === undefined) return promise;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<never>((_resolve, reject) => {
    if (left !== undefined) timer = setTimeout(() => reject(deadlineExceeded(what)), left);
    if (signal !== undefined) {
      onAbort = () => reject(new ConnectError(`${what}: cancelled`, Code.Canceled));
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
  }
}

/** Releases `endpoint` once the stream's messages have been read to the end (or abandoned). */
async function* releasedAfter<T>(messages: AsyncIterable<T>, release: (outcome: CallOutcome) => void): AsyncGenerator<T> {
  let outcome: CallOutcome = "unknown";
  try {
    yield* messages;
    outcome = "answered";
  } catch (error) {
    outcome = ConnectError.from(error).code === Code.Canceled ? "unknown" : "answered";
    throw error;
  } finally {
    release(outcome);
  }
}

export function createPeerTransport(options: PeerTransportOptions): PeerTransport {
  const { host, port } = parsePeerAddress(options.address);
  // Each endpoint's connection, by the transport the balancer hands out for it.
  const connections = new WeakMap<Transport, PeerConnection>();
  const balancing = options.balancing ?? {};
  const balancer = new PeerBalancer({
    host,
    resolver: balancing.resolver ?? dnsPeerResolver(),
    connect: (ip) => {
      const connection = endpointConnection(options, ip, port);
      connections.set(connection.transport, connection);
      return { transport: connection.transport, connecting: () => connection.state() === "connecting", close: () => connection.close() };
    },
    peerService: options.peerService,
    ...(balancing.refreshIntervalMs === undefined ? {} : { refreshIntervalMs: balancing.refreshIntervalMs }),
    ...(balancing.initialBackoffMs === undefined ? {} : { initialBackoffMs: balancing.initialBackoffMs }),
    ...(balancing.maxBackoffMs === undefined ? {} : { maxBackoffMs: balancing.maxBackoffMs }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.random === undefined ? {} : { random: options.random }),
  });
  /**
   * What a failed call says about its endpoint's connection: failed when the connection could not
   * be made or died (also when the call gave up while it was still being made: an address that
   * does not answer must not hold every call until its connect timeout).
   */
  const outcomeOf = (endpoint: Endpoint, error: unknown): CallOutcome => {
    const code = ConnectError.from(error).code;
    const state = connections.get(endpoint.transport)?.state();
    const gaveUp = code === Code.Canceled || code === Code.DeadlineExceeded;
    if (state === "error" || (gaveUp && state === "connecting") || hasNodeCode(error, CONNECTION_FAILED)) return "connection-failed";
    if (gaveUp || code === Code.Unavailable) return "unknown";
    return "answered";
  };
  const maxAttempts = Math.max(1, options.retry?.maxAttempts ?? 4);
  const initialBackoffMs = options.retry?.initialBackoffMs ?? 50;
  const maxBackoffMs = options.retry?.maxBackoffMs ?? 1000;
  const random = options.random ?? Math.random;
  const logger = options.logger;

  /** The signal and absolute deadline (performance.now() clock) of a call about to be made. */
  const callLimits = (signal: AbortSignal | undefined, timeoutMs: number | undefined, fallback: number | undefined) => {
    const incoming = currentCall();
    const timeout = effectiveTimeout(timeoutMs, incoming?.timeoutMs(), fallback);
    return { signal: combine(signal, incoming?.signal), deadline: timeout === undefined ? undefined : performance.now() + timeout };
  };
  const remaining = (deadline: number | undefined) => (deadline === undefined ? undefined : Math.floor(deadline - performance.now()));

  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const what = `${options.peerService} ${method.parent.typeName}/${method.name}`;
      const limits = callLimits(signal, timeoutMs, options.defaultTimeoutMs);
      const retriable = isRetriable(method);
      // The addresses this call was sent to: a retry goes to another replica when there is one.
      const tried = new Set<string>();
      for (let attempt = 1; ; attempt++) {
        const left = remaining(limits.deadline);
        if (left !== undefined && left <= 0) throw deadlineExceeded(what);
        try {
          await within(balancer.ready(), left, limits.signal, what);
          const endpoint = balancer.pick(tried);
          tried.add(endpoint.address);
          try {
            const now = remaining(limits.deadline);
            if (now !== undefined && now <= 0) throw deadlineExceeded(what);
            const response = await endpoint.transport.unary(method, limits.signal, now, header, input, contextValues);
            balancer.release(endpoint, "answered");
            return response;
          } catch (error) {
            balancer.release(endpoint, outcomeOf(endpoint, error));
            throw error;
          }
        } catch (error) {
          if (!retriable || attempt >= maxAttempts || limits.signal?.aborted === true || !transient(error)) throw error;
          const delay = Math.floor(random() * Math.min(maxBackoffMs, initialBackoffMs * 2 ** (attempt - 1)));
          const after = remaining(limits.deadline);
          if (after !== undefined && delay >= after) throw error;
          logger?.debug("peer call unavailable, retrying", { peer: options.peerService, method: method.name, attempt, delayMs: delay });
          try {
            await sleep(delay, undefined, limits.signal === undefined ? {} : { signal: limits.signal });
          } catch {
            throw error;
          }
        }
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      // Streams are not retried (a response may already have been consumed) and get no default
      // timeout (a change stream stays open for as long as its caller wants).
      const what = `${options.peerService} ${method.parent.typeName}/${method.name}`;
      const limits = callLimits(signal, timeoutMs, undefined);
      const left = remaining(limits.deadline);
      if (left !== undefined && left <= 0) throw deadlineExceeded(what);
      await within(balancer.ready(), left, limits.signal, what);
      const endpoint = balancer.pick();
      let response;
      try {
        const now = remaining(limits.deadline);
        if (now !== undefined && now <= 0) throw deadlineExceeded(what);
        response = await endpoint.transport.stream(method, limits.signal, now, header, input, contextValues);
      } catch (error) {
        balancer.release(endpoint, outcomeOf(endpoint, error));
        throw error;
      }
      return { ...response, message: releasedAfter(response.message, (outcome) => balancer.release(endpoint, outcome)) };
    },
    close: () => balancer.close(),
  };
}

/** Reads a service's peer TLS material: its certificate and key, and the CA of service certificates. */
export async function loadPeerTls(files: { readonly certFile: string; readonly keyFile: string; readonly caFile: string }): Promise<PeerTls> {
  const read = async (what: string, path: string) => {
    try {
      return await readFile(path);
    } catch (error) {
      throw new Error(`cannot read the peer TLS ${what} file ${path}: ${error instanceof Error && "code" in error ? String(error.code) : "unreadable"}`, { cause: error });
    }
  };
  const [cert, key, ca] = await Promise.all([read("certificate", files.certFile), read("private key", files.keyFile), read("CA", files.caFile)]);
  return { cert, key, ca };
}
