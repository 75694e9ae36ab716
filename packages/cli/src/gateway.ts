// The topology's optional front door for clients that expect ONE address for every service, as
// `keyhold dev` gives them (KEYHOLD_TOPOLOGY_GATEWAY=on; the end-to-end tests' KEYHOLD_E2E_TOPOLOGY
// switch uses it): a plaintext gRPC (h2c) port and a plaintext HTTP/1.1 port (Connect, gRPC-Web)
// in the launcher process that forward each call, by its proto package, to the service that
// serves it, over TLS (verifying the service's certificate against the dev CA). It presents NO
// client certificate: through it a caller is an outside client, never a Keyhold service, exactly
// as a direct call without a service certificate. Its own address is every caller's source IP.
// For development and tests: a real deployment puts a mesh or Envoy in front.
import { connect as http2Connect, constants, createServer as createHttp2Server, type ClientHttp2Session, type ClientHttp2Stream, type Http2Server, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Session } from "node:http2";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import type { ServedService } from "./config.ts";
import type { ServiceAddresses } from "./topology.ts";

/** Which service a call goes to, by the start of its path (/<proto package>.<Service>/<Method>). */
export const GATEWAY_ROUTES: readonly (readonly [string, ServedService])[] = [
  ["/keyhold.key.v1.", "key-service"],
  ["/keyhold.policy.v1.", "policy-service"],
  ["/keyhold.audit.v1.", "audit-service"],
  ["/keyhold.secrets.v1.", "secrets-service"],
];

export interface Gateway {
  readonly grpcPort: number;
  readonly httpPort: number;
  stop(): Promise<void>;
}

function routeOf(path: string | undefined): ServedService | undefined {
  if (path === undefined) return undefined;
  return GATEWAY_ROUTES.find(([prefix]) => path.startsWith(prefix))?.[1];
}

/** Request headers to pass on: everything but the pseudo-headers and hop-by-hop ones. */
function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || name === "connection" || name === "host" || name === "keep-alive" || name === "transfer-encoding") continue;
    out[name] = value;
  }
  return out;
}

function hostAndPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ""), port: Number(address.slice(colon + 1)) };
}

export async function startGateway(options: {
  readonly host: string;
  readonly services: Readonly<Partial<Record<ServedService, ServiceAddresses>>>;
  readonly ca: Buffer;
}): Promise<Gateway> {
  const sessions = new Map<ServedService, ClientHttp2Session>();
  const sessionFor = (service: ServedService, address: string): ClientHttp2Session => {
    const existing = sessions.get(service);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const session = http2Connect(`https://${address}`, { ca: options.ca, servername: service });
    session.on("error", () => sessions.delete(service));
    session.on("close", () => sessions.delete(service));
    sessions.set(service, session);
    return session;
  };

  const grpc: Http2Server = createHttp2Server();
  const clients = new Set<ServerHttp2Session>();
  grpc.on("session", (session) => {
    clients.add(session);
    session.once("close", () => clients.delete(session));
  });
  grpc.on("stream", (stream, headers) => {
    const service = routeOf(headers[":path"]);
    const target = service === undefined ? undefined : options.services[service];
    if (service === undefined || target === undefined) {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12", "grpc-message": "no Keyhold service serves this path here" }, { endStream: true });
      return;
    }
    let upstream: ClientHttp2Stream;
    try {
      upstream = sessionFor(service, target.grpc).request({ ":method": "POST", ":path": headers[":path"], ...forwardable(headers) });
    } catch {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "14", "grpc-message": `${service} is unavailable` }, { endStream: true });
      return;
    }
    let trailers: OutgoingHttpHeaders = {};
    upstream.on("response", (responseHeaders, flags) => {
      if (stream.destroyed) return;
      const status = responseHeaders[":status"] ?? 200;
      const endStream = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      stream.respond({ ":status": status, ...forwardable(responseHeaders) }, endStream ? { endStream: true } : { waitForTrailers: true });
    });
    upstream.on("trailers", (received: IncomingHttpHeaders) => {
      trailers = forwardable(received);
    });
    stream.on("wantTrailers", () => stream.sendTrailers(trailers));
    upstream.on("error", () => {
      if (stream.headersSent) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      else if (!stream.destroyed) stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "14", "grpc-message": `${service} is unavailable` }, { endStream: true });
    });
    stream.on("close", () => {
      if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    });
    stream.pipe(upstream);
    upstream.pipe(stream);
  });

  const http: HttpServer = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const service = routeOf(req.url);
    const target = service === undefined ? undefined : options.services[service];
    if (service === undefined || target === undefined) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: "unimplemented", message: "no Keyhold service serves this path here" }));
      return;
    }
    const { host, port } = hostAndPort(target.http);
    const upstream = httpsRequest(
      { host, port, method: req.method, path: req.url, headers: forwardable(req.headers), ca: options.ca, servername: service, agent: false },
      (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) {
        res.writeHead(503, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: "unavailable", message: `${service} is unavailable` }));
      } else {
        res.destroy();
      }
    });
    req.pipe(upstream);
  });

  const listen = (server: Http2Server | HttpServer) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, options.host, () => {
        server.off("error", reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const grpcPort = await listen(grpc);
  const httpPort = await listen(http);
  return {
    grpcPort,
    httpPort,
    async stop() {
      for (const session of sessions.values()) session.close();
      for (const session of clients) session.destroy();
      await Promise.all([
        new Promise<void>((resolve) => grpc.close(() => resolve())),
        new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        }),
      ]);
    },
  };
}
