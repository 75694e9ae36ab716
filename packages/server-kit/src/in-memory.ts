// A Connect transport that calls a handler set in-process, through the same interceptors and
// error mapping as the real front doors: for unit tests, and for calls between services in the
// all-in-one process. Calls made through it are marked as coming from `callingService` (a
// trusted peer: the same process), which is what lets a callee honour a forwarded end caller.
import { createRouterTransport, type Interceptor, type Transport } from "@connectrpc/connect";
import type { ServiceBinding } from "./call.ts";
import { callingServiceKey, connectRoutes, peerAddressKey, transportPeerKey } from "./connect-front-door.ts";
import type { Logger } from "./logger.ts";
import { createDispatcher, type CallInterceptor } from "./pipeline.ts";
import type { PeerIdentity } from "./tls.ts";

export interface InMemoryTransportOptions {
  /** The Keyhold service on whose behalf calls are made; undefined for an external client. */
  readonly callingService?: string;
  /** Request headers every call carries (e.g. a test client's authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The transport peer address handlers see (default: none, ""). For tests. */
  readonly peerAddress?: string;
  /** Whether calls count as arriving over TLS (default false). For tests. */
  readonly secureTransport?: boolean;
  /** A verified client certificate identity the calls present (implies secureTransport). For tests. */
  readonly peerIdentity?: PeerIdentity;
  /** Client interceptors every call passes through first (e.g. Telemetry.clientInterceptors: traceparent). */
  readonly clientInterceptors?: readonly Interceptor[];
}

export function createInMemoryTransport(
  bindings: readonly ServiceBinding[],
  interceptors: readonly CallInterceptor[],
  logger: Logger,
  options: InMemoryTransportOptions = {},
): Transport {
  const dispatcher = createDispatcher(bindings, interceptors);
  const { callingService, peerAddress, peerIdentity } = options;
  const secure = options.secureTransport ?? peerIdentity !== undefined;
  const headers = Object.entries(options.headers ?? {});
  return createRouterTransport(connectRoutes(bindings.map((b) => b.service), dispatcher, logger), {
    transport: {
      interceptors: [
        ...(options.clientInterceptors ?? []),
        (next) => (request) => {
          for (const [name, value] of headers) request.header.set(name, value);
          return next(request);
        },
      ],
    },
    router:
      callingService === undefined && peerAddress === undefined && !secure
        ? {}
        : {
            interceptors: [
              (next) => (request) => {
                if (callingService !== undefined) request.contextValues.set(callingServiceKey, callingService);
                if (peerAddress !== undefined) request.contextValues.set(peerAddressKey, peerAddress);
                if (secure) request.contextValues.set(transportPeerKey, { secure, identity: () => peerIdentity });
                return next(request);
              },
            ],
          },
  });
}
