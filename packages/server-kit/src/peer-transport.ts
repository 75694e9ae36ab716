// A Connect transport to another Keyhold service over the network: gRPC over HTTP/2
// (@connectrpc/connect-node's createGrpcTransport, one kept session per transport) with mutual
// TLS: this service's certificate is its client certificate (the callee marks the calls as coming
// from this service, service-identity.ts), and the callee's server certificate must be the peer
// service's own (its DNS SAN and its SPIFFE id), whatever address it was reached at.
//
// Every call made while serving an incoming call carries what is left of that call's deadline (and
// is cancelled with it): the call scope (call-scope.ts) says which call that is. Calls to methods
// whose proto declares idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT are retried on UNAVAILABLE
// or a connection lost under the call (the peer restarting, a replica going away: a new
// connection lands elsewhere) with exponential backoff and jitter, never past the deadline.
// Other methods are tried once.
import { readFile } from "node:fs/promises";
import { checkServerIdentity as defaultCheckServerIdentity, type PeerCertificate } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { currentCall } from "./call-scope.ts";
import type { Logger } from "./logger.ts";
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

export interface PeerTransportOptions {
  /** host:port of the peer's gRPC port. */
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

/**
 * Whether a failed attempt may be worth another: UNAVAILABLE, or the connection lost under the
 * call (connect-node answers ABORTED for a reset connection, CANCELED for a stream its dying
 * session cancelled: the caller did not cancel, which is checked before). Only ever asked for
 * retriable methods.
 */
function transient(error: unknown): boolean {
  const connectError = ConnectError.from(error);
  if (connectError.code === Code.Unavailable || connectError.code === Code.Canceled) return true;
  if (connectError.code !== Code.Aborted) return false;
  const seen = new Set<unknown>();
  for (let reason: unknown = connectError; reason instanceof Error && !seen.has(reason); reason = reason.cause) {
    seen.add(reason);
    const code = (reason as { code?: unknown }).code;
    if (typeof code === "string" && CONNECTION_LOST.has(code)) return true;
  }
  return false;
}

function deadlineExceeded(what: string): ConnectError {
  return new ConnectError(`${what}: the deadline passed before the call could be made`, Code.DeadlineExceeded);
}

export function createPeerTransport(options: PeerTransportOptions): Transport {
  const scheme = options.tls === undefined ? "http" : "https";
  const inner = createGrpcTransport({
    baseUrl: `${scheme}://${options.address}`,
    interceptors: [...(options.clientInterceptors ?? [])],
    ...(options.maxMessageBytes === undefined ? {} : { readMaxBytes: options.maxMessageBytes, writeMaxBytes: options.maxMessageBytes }),
    pingIntervalMs: 30_000,
    ...(options.tls === undefined
      ? {}
      : {
          nodeOptions: {
            ...(options.tls.cert === undefined || options.tls.key === undefined ? {} : { cert: options.tls.cert, key: options.tls.key }),
            ca: options.tls.ca,
            servername: options.peerService,
            checkServerIdentity: peerServerIdentityCheck(options.peerService),
            minVersion: "TLSv1.2" as const,
          },
        }),
  });
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
      const limits = callLimits(signal, timeoutMs, options.defaultTimeoutMs);
      const retriable = isRetriable(method);
      for (let attempt = 1; ; attempt++) {
        const left = remaining(limits.deadline);
        if (left !== undefined && left <= 0) throw deadlineExceeded(`${options.peerService} ${method.parent.typeName}/${method.name}`);
        try {
          return await inner.unary(method, limits.signal, left, header, input, contextValues);
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
    stream(method, signal, timeoutMs, header, input, contextValues) {
      // Streams are not retried (a response may already have been consumed) and get no default
      // timeout (a change stream stays open for as long as its caller wants).
      const limits = callLimits(signal, timeoutMs, undefined);
      const left = remaining(limits.deadline);
      if (left !== undefined && left <= 0) return Promise.reject(deadlineExceeded(`${options.peerService} ${method.parent.typeName}/${method.name}`));
      return inner.stream(method, limits.signal, left, header, input, contextValues);
    },
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
