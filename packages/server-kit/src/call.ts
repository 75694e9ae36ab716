// What a handler knows about the call it serves, the same for both front doors.
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallInterceptor } from "./pipeline.ts";
import type { PeerIdentity } from "./tls.ts";

/** An authenticated caller. */
export interface Principal {
  /** 12-digit account id. */
  readonly accountId: string;
  /** krn:keyhold:iam::<account>:root | user/<name> | role/<name> */
  readonly krn: string;
  readonly kind: "root" | "user" | "role" | "service";
  readonly name: string;
  /** For an assumed-role session: the session name. */
  readonly sessionName?: string;
  /**
   * How long this authentication may be reused at most: a role session's expiry, or the
   * authority's cache hint. Caches of credentials never keep an answer past it.
   */
  readonly reusableUntil?: Date;
}

export type Protocol = "grpc" | "connect" | "grpc-web";

export interface CallContext {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly protocol: Protocol;
  /** Remote address of the transport peer (ip or ip:port as the transport reports it). */
  readonly peerAddress: string;
  /** True when the call came over TLS. */
  readonly secureTransport: boolean;
  /**
   * The SAN URIs and DNS names of the client certificate, when the peer presented one that
   * verified against the server's client CA; else undefined. Computed on first read.
   */
  readonly peerIdentity: PeerIdentity | undefined;
  /** One request header (lower-case name), or undefined. */
  header(name: string): string | undefined;
  /** A request id: the caller's x-request-id when valid, else a fresh one. */
  readonly requestId: string;
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** Milliseconds until the deadline, if the caller set one. */
  timeoutMs(): number | undefined;
  /** Set by the identity step before any handler runs. */
  principal: Principal | undefined;
  /**
   * The Keyhold service that made this call on the end caller's behalf, when the call came from
   * a trusted peer service (in-process, or over mutually authenticated TLS); else undefined.
   */
  readonly callingService: string | undefined;
  /** Values interceptors hand to handlers (e.g. the authorizer's per-call state). */
  readonly values: Map<symbol, unknown>;
}

/** A unary RPC implementation: the same function serves gRPC, Connect and gRPC-Web. */
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  call: CallContext,
) => Promise<MessageInitShape<O>>;

/**
 * A server-streaming RPC implementation: resolves (after its checks) to the stream of responses,
 * so the same interceptors run before a stream starts as before a unary call.
 */
export type ServerStreamHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  call: CallContext,
) => Promise<AsyncIterable<MessageInitShape<O>>>;

/** A handler per RPC of a service, typed from its generated descriptor. */
export type ServiceHandlers<S extends GenServiceMethods> = {
  [K in keyof S]: S[K] extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? UnaryHandler<I, O>
    : S[K] extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? ServerStreamHandler<I, O>
      : never;
};

/**
 * A service descriptor together with its handlers and the interceptors its calls pass through
 * (after the server's own): what a front door serves. Services sharing one server (the
 * all-in-one process) keep their own authentication this way.
 */
export interface ServiceBinding {
  readonly service: DescService;
  /**
   * The descriptor server reflection publishes instead of `service`, when `service` is a private,
   * wire-compatible view of it (e.g. a request field declared as bytes to skip decoding).
   */
  readonly describedBy?: DescService | undefined;
  readonly handlers: Readonly<Record<string, (request: never, call: CallContext) => Promise<unknown>>>;
  readonly interceptors: readonly CallInterceptor[];
}

export function bindService<S extends GenServiceMethods>(
  service: GenService<S>,
  handlers: ServiceHandlers<S>,
  interceptors: readonly CallInterceptor[] = [],
  options: { readonly describedBy?: DescService } = {},
): ServiceBinding {
  const byName: Record<string, (request: never, call: CallContext) => Promise<unknown>> = {};
  for (const method of service.methods) {
    const impl = (handlers as Record<string, unknown>)[method.localName];
    if (typeof impl !== "function") {
      throw new Error(`${service.typeName}: no handler for ${method.name}`);
    }
    byName[method.localName] = impl as (request: never, call: CallContext) => Promise<unknown>;
  }
  return { service, handlers: byName, interceptors, describedBy: options.describedBy };
}
