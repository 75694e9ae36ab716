// Connect and gRPC-Web (browsers, curl), served by @connectrpc/connect-node on an HTTP/1.1
// port together with GET /healthz. Dispatches into the same handler entries as gRPC.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { ConnectError, createContextKey, createContextValues, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema } from "@keyhold/proto";
import type { CallContext, Principal, Protocol } from "./call.ts";
import { createConnectAdapter } from "./connect-adapter.ts";
import type { HealthRegistry } from "./health.ts";
import type { Logger } from "./logger.ts";
import type { Dispatcher, UnaryNext } from "./pipeline.ts";
import type { MetricsEndpoint } from "./telemetry/telemetry.ts";
import { requestIdFrom } from "./request-id.ts";
import { serviceOfPeerIdentity } from "./service-identity.ts";
import { errorInfo, retryInfo, toWireError } from "./status.ts";
import { verifiedPeerIdentity, type PeerIdentity } from "./tls.ts";

export const peerAddressKey = createContextKey<string>("", { description: "transport peer address" });

/** What the transport knows of its peer: TLS or not, and the verified client certificate (computed on demand). */
export interface TransportPeer {
  readonly secure: boolean;
  identity(): PeerIdentity | undefined;
}

const PLAINTEXT_PEER: TransportPeer = { secure: false, identity: () => undefined };

export const transportPeerKey = createContextKey<TransportPeer>(PLAINTEXT_PEER, { description: "transport security of the peer" });

function transportPeerOf(socket: Socket): TransportPeer {
  if (!(socket instanceof TLSSocket)) return PLAINTEXT_PEER;
  return { secure: true, identity: () => verifiedPeerIdentity(socket) };
}

/**
 * Set by the in-process transport: the Keyhold service making the call (trusted: same process).
 * Over the network, a verified service certificate says it instead (service-identity.ts).
 */
export const callingServiceKey = createContextKey<string | undefined>(undefined, { description: "calling Keyhold service" });

class ConnectCallContext implements CallContext {
  principal: Principal | undefined = undefined;
  readonly values = new Map<symbol, unknown>();
  private cachedRequestId: string | undefined;
  /** null: not computed yet. */
  private cachedPeerIdentity: PeerIdentity | undefined | null = null;

  private readonly context: HandlerContext;

  constructor(context: HandlerContext) {
    this.context = context;
  }

  get service(): DescService {
    return this.context.service;
  }
  get method(): DescMethod {
    return this.context.method;
  }
  get protocol(): Protocol {
    return this.context.protocolName as Protocol;
  }
  get peerAddress(): string {
    return this.context.values.get(peerAddressKey);
  }
  get secureTransport(): boolean {
    return this.context.values.get(transportPeerKey).secure;
  }
  get peerIdentity(): PeerIdentity | undefined {
    if (this.cachedPeerIdentity === null) this.cachedPeerIdentity = this.context.values.get(transportPeerKey).identity();
    return this.cachedPeerIdentity;
  }
  get callingService(): string | undefined {
    const inProcess = this.context.values.get(callingServiceKey);
    if (inProcess !== undefined) return inProcess;
    return this.secureTransport ? serviceOfPeerIdentity(this.peerIdentity) : undefined;
  }
  header(name: string): string | undefined {
    return this.context.requestHeader.get(name) ?? undefined;
  }
  get requestId(): string {
    this.cachedRequestId ??= requestIdFrom(this.header("x-request-id"));
    return this.cachedRequestId;
  }
  get signal(): AbortSignal {
    return this.context.signal;
  }
  timeoutMs(): number | undefined {
    return this.context.timeoutMs();
  }
}

export function toConnectError(error: unknown, logger: Logger, where: string): ConnectError {
  const wire = toWireError(error, logger, where);
  const details: NonNullable<ConstructorParameters<typeof ConnectError>[3]> = [];
  // An unexpected failure is INTERNAL with no detail at all.
  if (wire.reason !== "INTERNAL") details.push({ desc: ErrorInfoSchema, value: errorInfo(wire) });
  if (wire.retryAfterMs !== undefined) details.push({ desc: RetryInfoSchema, value: retryInfo(wire.retryAfterMs) });
  return new ConnectError(wire.message, wire.code, undefined, details);
}

export function connectRoutes(services: readonly DescService[], dispatcher: Dispatcher, logger: Logger) {
  return (router: ConnectRouter) => {
    for (const service of services) {
      const implementation: Record<string, (request: unknown, context: HandlerContext) => unknown> = {};
      for (const method of service.methods) {
        const entry: UnaryNext = dispatcher.entry(service.typeName, method.name);
        const where = `${service.typeName}/${method.name}`;
        implementation[method.localName] =
          method.methodKind === "server_streaming"
            ? async function* (request, context) {
                try {
                  yield* (await entry(request, new ConnectCallContext(context))) as AsyncIterable<unknown>;
                } catch (error) {
                  throw toConnectError(error, logger, where);
                }
              }
            : async (request, context) => {
                try {
                  return await entry(request, new ConnectCallContext(context));
                } catch (error) {
                  throw toConnectError(error, logger, where);
                }
              };
      }
      router.service(service, implementation as never);
    }
  };
}

export interface ConnectFrontDoorOptions {
  readonly services: readonly DescService[];
  readonly dispatcher: Dispatcher;
  readonly health: HealthRegistry;
  readonly logger: Logger;
  readonly maxMessageBytes: number;
  /** Origins allowed to call from a browser ("*" for any). */
  readonly corsOrigins: readonly string[];
  readonly shutdownSignal: AbortSignal;
  /** GET /metrics (Prometheus text); undefined: not served. */
  readonly metrics?: MetricsEndpoint | undefined;
}

const CORS_ALLOWED_HEADERS = [
  "Content-Type", "Connect-Protocol-Version", "Connect-Timeout-Ms", "Connect-Accept-Encoding", "Connect-Content-Encoding",
  "Grpc-Timeout", "X-Grpc-Web", "X-User-Agent", "Authorization", "X-Request-Id", "Traceparent",
].join(", ");
const CORS_EXPOSED_HEADERS = ["Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin", "Connect-Content-Encoding"].join(", ");

export function createConnectListener(options: ConnectFrontDoorOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const adapter = createConnectAdapter({
    logger: options.logger,
    routes: connectRoutes(options.services, options.dispatcher, options.logger),
    readMaxBytes: options.maxMessageBytes,
    writeMaxBytes: options.maxMessageBytes,
    shutdownSignal: options.shutdownSignal,
    contextValues: (req) => createContextValues().set(peerAddressKey, req.socket.remoteAddress ?? "").set(transportPeerKey, transportPeerOf(req.socket)),
  });
  const allowOrigin = (origin: string | undefined): string | undefined => {
    if (origin === undefined) return undefined;
    if (options.corsOrigins.includes("*")) return origin;
    return options.corsOrigins.includes(origin) ? origin : undefined;
  };
  return (req, res) => {
    const origin = allowOrigin(req.headers.origin);
    if (origin !== undefined) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Vary", "Origin");
      res.setHeader("Access-Control-Expose-Headers", CORS_EXPOSED_HEADERS);
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
          "Access-Control-Allow-Headers": CORS_ALLOWED_HEADERS,
          "Access-Control-Max-Age": "7200",
        });
        res.end();
        return;
      }
    }
    if (req.url === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      const overall = options.health.overall;
      res.writeHead(overall === "SERVING" ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: overall, services: options.health.snapshot() }));
      return;
    }
    const metrics = options.metrics;
    if (metrics !== undefined && req.method === "GET" && (req.url === "/metrics" || req.url?.startsWith("/metrics?") === true)) {
      metrics.handle(req, res);
      return;
    }
    adapter(req, res);
  };
}
