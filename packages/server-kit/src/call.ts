// What a handler knows about the call it serves, the same for both front doors.
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";

/** An authenticated caller. */
export interface Principal {
  /** 12-digit account id. */
  readonly accountId: string;
  /** krn:keyhold:iam::<account>:root | user/<name> | role/<name> */
  readonly krn: string;
  readonly kind: "root" | "user" | "role" | "service";
  readonly name: string;
}

export type Protocol = "grpc" | "connect" | "grpc-web";

export interface CallContext {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly protocol: Protocol;
  /** Remote address of the transport peer (ip or ip:port as the transport reports it). */
  readonly peerAddress: string;
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
}

/** A unary RPC implementation: the same function serves gRPC, Connect and gRPC-Web. */
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  call: CallContext,
) => Promise<MessageInitShape<O>>;

/** A handler per RPC of a service, typed from its generated descriptor. */
export type ServiceHandlers<S extends GenServiceMethods> = {
  [K in keyof S]: S[K] extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? UnaryHandler<I, O>
    : never;
};

/** A service descriptor together with its handlers: what a front door serves. */
export interface ServiceBinding {
  readonly service: DescService;
  readonly handlers: Readonly<Record<string, (request: never, call: CallContext) => Promise<unknown>>>;
}

export function bindService<S extends GenServiceMethods>(service: GenService<S>, handlers: ServiceHandlers<S>): ServiceBinding {
  const byName: Record<string, (request: never, call: CallContext) => Promise<unknown>> = {};
  for (const method of service.methods) {
    const impl = (handlers as Record<string, unknown>)[method.localName];
    if (typeof impl !== "function") {
      throw new Error(`${service.typeName}: no handler for ${method.name}`);
    }
    byName[method.localName] = impl as (request: never, call: CallContext) => Promise<unknown>;
  }
  return { service, handlers: byName };
}
