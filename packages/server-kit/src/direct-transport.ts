// A Connect transport for hot calls between services of one process (key-service to
// hsm-gateway in the all-in-one process): it calls the callee's composed handler entry (its
// interceptors included) with the request message itself, without the Connect router, the
// serialization round trip and its async iterables, which cost far more than the call's work
// when that work is a microsecond AES-GCM in the token. Errors are mapped exactly as the front
// doors map them (ConnectError with one ErrorInfo), so the caller's client sees what it would
// see over the wire. The callee must not keep or change the request's byte arrays (the caller's
// buffers): hsm-gateway copies what it passes to the token.
//
// Unary calls only. Calls are marked as coming from `callingService` (a trusted peer in the same
// process), as createInMemoryTransport marks them. Client interceptors (tracing: a CLIENT span and
// the traceparent header) run around the call when there are any; with none, nothing is built
// for them.
import { create, isMessage, type DescMessage, type DescMethod, type DescMethodUnary, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type Interceptor, type Transport, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import type { CallContext, Principal, Protocol, ServiceBinding } from "./call.ts";
import { toConnectError } from "./connect-front-door.ts";
import type { Logger } from "./logger.ts";
import { createDispatcher, type CallInterceptor, type UnaryNext } from "./pipeline.ts";
import { requestIdFrom } from "./request-id.ts";
import type { PeerIdentity } from "./tls.ts";

export interface DirectTransportOptions {
  /** The Keyhold service on whose behalf calls are made. */
  readonly callingService: string;
  /** Connect client interceptors run around each call (they may add request headers). */
  readonly clientInterceptors?: readonly Interceptor[];
}

class DirectCallContext implements CallContext {
  principal: Principal | undefined = undefined;
  #values: Map<symbol, unknown> | undefined;
  readonly service: DescService;
  readonly method: DescMethod;
  readonly protocol: Protocol = "connect";
  readonly peerAddress = "";
  readonly secureTransport = false;
  readonly peerIdentity: PeerIdentity | undefined = undefined;
  readonly signal: AbortSignal;
  readonly callingService: string;
  readonly #headers: Headers | undefined;
  readonly #deadline: number | undefined;
  #requestId: string | undefined;

  constructor(method: DescMethod, headers: Headers | undefined, signal: AbortSignal, deadline: number | undefined, callingService: string) {
    this.service = method.parent;
    this.method = method;
    this.#headers = headers;
    this.signal = signal;
    this.#deadline = deadline;
    this.callingService = callingService;
  }

  /** Made on first use: most calls between services never need it. */
  get values(): Map<symbol, unknown> {
    this.#values ??= new Map();
    return this.#values;
  }

  header(name: string): string | undefined {
    return this.#headers?.get(name) ?? undefined;
  }

  get requestId(): string {
    this.#requestId ??= requestIdFrom(this.header("x-request-id"));
    return this.#requestId;
  }

  timeoutMs(): number | undefined {
    return this.#deadline === undefined ? undefined : Math.max(0, this.#deadline - performance.now());
  }
}

/** The signal of calls whose caller gave none: never aborted (callees remove what they add to it). */
const NEVER_ABORTED = new AbortController().signal;

export function createDirectTransport(
  bindings: readonly ServiceBinding[],
  interceptors: readonly CallInterceptor[],
  logger: Logger,
  options: DirectTransportOptions,
): Transport {
  const dispatcher = createDispatcher(bindings, interceptors);
  const clientInterceptors = options.clientInterceptors ?? [];
  const served = new Set(bindings.map((b) => b.service.typeName));
  // Each method's composed entry, looked up once.
  const entries = new Map<DescMethod, UnaryNext>();
  // The callee sends no response headers or trailers: every answer carries these two empty
  // objects (callers only read them).
  const noHeader = new Headers();
  const noTrailer = new Headers();
  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: ConstructorParameters<typeof Headers>[0] | undefined,
      input: MessageInitShape<I>,
    ): Promise<UnaryResponse<I, O>> {
      const where = `${method.parent.typeName}/${method.name}`;
      if (!served.has(method.parent.typeName)) throw new ConnectError(`${where} is not served here`, Code.Unimplemented);
      let entry = entries.get(method);
      if (entry === undefined) {
        entry = dispatcher.entry(method.parent.typeName, method.name);
        entries.set(method, entry);
      }
      const request = isMessage(input, method.input) ? input : create(method.input, input);
      const invoke = async (message: MessageInitShape<I>, headers: Headers | undefined): Promise<UnaryResponse<I, O>> => {
        const call = new DirectCallContext(
          method,
          headers,
          signal ?? NEVER_ABORTED,
          timeoutMs === undefined ? undefined : performance.now() + timeoutMs,
          options.callingService,
        );
        let output: unknown;
        try {
          output = await entry(message, call);
        } catch (error) {
          throw toConnectError(error, logger, where);
        }
        const answer = isMessage(output, method.output) ? output : create(method.output, output as MessageInitShape<O>);
        return { stream: false, service: method.parent, method, header: noHeader, message: answer, trailer: noTrailer };
      };
      if (clientInterceptors.length === 0) return invoke(request, header === undefined ? undefined : new Headers(header));
      const unaryRequest: UnaryRequest<I, O> = {
        stream: false,
        service: method.parent,
        method,
        requestMethod: "POST",
        url: `direct:///${where}`,
        signal: signal ?? NEVER_ABORTED,
        header: new Headers(header),
        contextValues: createContextValues(),
        message: request,
      };
      type AnyUnary = (req: UnaryRequest<I, O>) => Promise<UnaryResponse<I, O>>;
      const innermost: AnyUnary = (req) => invoke(req.message, req.header);
      const chain = clientInterceptors.reduceRight<AnyUnary>((next, interceptor) => interceptor(next as never) as unknown as AnyUnary, innermost);
      return chain(unaryRequest);
    },
    stream() {
      return Promise.reject(new ConnectError("the direct transport serves unary calls only", Code.Unimplemented));
    },
  };
}
