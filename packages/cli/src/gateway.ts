// The topology's optional front door for clients that expect ONE address for every service, as
// `keyhold dev` gives them (KEYHOLD_TOPOLOGY_GATEWAY=on; the end-to-end tests' KEYHOLD_E2E_TOPOLOGY
// switch uses it): a plaintext gRPC (h2c) port and a plaintext HTTP/1.1 port (Connect, gRPC-Web)
// in the launcher process that forward each call, by its proto package, to the service that
// serves it, over TLS (verifying the service's certificate against the dev CA). It presents NO
// client certificate: through it a caller is an outside client, never a Keyhold service, exactly
// as a direct call without a service certificate. Its own address is every caller's source IP.
// Health is answered for the whole topology: grpc.health.v1 Check for "" and GET /healthz ask
// every service and report SERVING only when all are; Check for one service asks the service
// that serves it. Server reflection is answered by the gateway itself (a loopback reflection
// server describing every service it routes to), so grpcurl and ghz work through it as they do
// against `keyhold dev`.
// For development and tests: a real deployment puts a mesh or Envoy in front.
import { connect as http2Connect, constants, createServer as createHttp2Server, type ClientHttp2Session, type ClientHttp2Stream, type Http2Server, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import {
  AuditIngestService, AuditService, AuthorizationService, CryptoService, IamService, KeyService, SealService, SecretsService, StsService,
} from "@keyhold/proto";
import { serveReflection } from "@keyhold/server-kit";
import type { ServedService } from "./config.ts";
import type { ServiceAddresses } from "./topology.ts";

/** Which service a call goes to, by the start of its path (/<proto package>.<Service>/<Method>). */
export const GATEWAY_ROUTES: readonly (readonly [string, ServedService])[] = [
  ["/keyhold.key.v1.", "key-service"],
  ["/keyhold.policy.v1.", "policy-service"],
  ["/keyhold.audit.v1.", "audit-service"],
  ["/keyhold.secrets.v1.", "secrets-service"],
];

/** What the gateway's reflection describes: every service the routes reach (internal ones too, as `keyhold dev` does). */
export const GATEWAY_DESCRIBED_SERVICES: Parameters<typeof serveReflection>[0] = [
  CryptoService, KeyService, SealService, IamService, StsService, AuthorizationService, AuditService, AuditIngestService, SecretsService,
];

const REFLECTION_PATH_PREFIX = "/grpc.reflection.";

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

const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";
const SERVING = 1;
const NOT_SERVING = 2;

/** A gRPC length-prefixed message frame. */
function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** The `service` field (1) of an encoded HealthCheckRequest ("" when absent or unreadable). */
function healthRequestService(body: Buffer): string {
  const message = body.subarray(5);
  if (message[0] !== 0x0a) return "";
  let length = 0;
  let shift = 0;
  let at = 1;
  for (; at < message.length && at < 6; at++) {
    const byte = message[at]!;
    length |= (byte & 0x7f) << shift;
    shift += 7;
    if ((byte & 0x80) === 0) break;
  }
  return message.subarray(at + 1, at + 1 + length).toString("utf8");
}

/** The `status` field (1) of an encoded HealthCheckResponse frame (0, UNKNOWN, when absent). */
function healthResponseStatus(body: Buffer): number {
  const message = body.subarray(5);
  return message[0] === 0x08 ? (message[1] ?? 0) : 0;
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
  const reflection = await serveReflection(GATEWAY_DESCRIBED_SERVICES);
  let reflectionSession: ClientHttp2Session | undefined;
  const reflectionSessionNow = (): ClientHttp2Session => {
    if (reflectionSession !== undefined && !reflectionSession.closed && !reflectionSession.destroyed) return reflectionSession;
    const session = http2Connect(`http://${reflection.address}`);
    session.on("error", () => {
      if (reflectionSession === session) reflectionSession = undefined;
    });
    reflectionSession = session;
    return session;
  };
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
  /** One unary Check against a service: its answer's status and grpc-status, or undefined when unreachable. */
  const checkUpstream = (service: ServedService, address: string, body: Buffer): Promise<{ grpcStatus: string; body: Buffer; message: string } | undefined> =>
    new Promise((resolve) => {
      let upstream: ClientHttp2Stream;
      try {
        upstream = sessionFor(service, address).request({ ":method": "POST", ":path": HEALTH_CHECK_PATH, "content-type": "application/grpc", te: "trailers" });
      } catch {
        resolve(undefined);
        return;
      }
      const chunks: Buffer[] = [];
      let grpcStatus = "0";
      let message = "";
      upstream.setTimeout(5_000, () => upstream.close(constants.NGHTTP2_CANCEL));
      upstream.on("response", (h: IncomingHttpHeaders) => {
        if (typeof h["grpc-status"] === "string") grpcStatus = h["grpc-status"];
        if (typeof h["grpc-message"] === "string") message = h["grpc-message"];
      });
      upstream.on("trailers", (h: IncomingHttpHeaders) => {
        if (typeof h["grpc-status"] === "string") grpcStatus = h["grpc-status"];
        if (typeof h["grpc-message"] === "string") message = h["grpc-message"];
      });
      upstream.on("data", (chunk: Buffer) => chunks.push(chunk));
      upstream.on("error", () => resolve(undefined));
      upstream.on("close", () => resolve(upstream.rstCode === constants.NGHTTP2_NO_ERROR ? { grpcStatus, body: Buffer.concat(chunks), message } : undefined));
      upstream.end(body);
    });

  /** grpc.health.v1 Check: "" for the whole topology, else the service that serves the name. */
  const answerHealth = (stream: ServerHttp2Stream, body: Buffer): void => {
    const name = healthRequestService(body);
    const answer = (headers: OutgoingHttpHeaders, payload?: Buffer) => {
      if (stream.destroyed) return;
      if (payload === undefined) {
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...headers }, { endStream: true });
        return;
      }
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", ...headers }));
      stream.end(payload);
    };
    const targets = (name === "" ? GATEWAY_ROUTES.map(([, service]) => service) : [routeOf(`/${name}/`) ?? "key-service"])
      .filter((service, i, all) => all.indexOf(service) === i)
      .flatMap((service) => {
        const target = options.services[service];
        return target === undefined ? [] : [[service, target.grpc] as const];
      });
    void Promise.all(targets.map(([service, address]) => checkUpstream(service, address, body))).then((results) => {
      if (name !== "") {
        const only = results[0];
        if (only === undefined) answer({ "grpc-status": "14", "grpc-message": "the service is unavailable" });
        else if (only.grpcStatus !== "0") answer({ "grpc-status": only.grpcStatus, "grpc-message": only.message });
        else answer({}, only.body);
        return;
      }
      const serving = results.length > 0 && results.every((result) => result !== undefined && result.grpcStatus === "0" && healthResponseStatus(result.body) === SERVING);
      answer({}, grpcFrame(Uint8Array.of(0x08, serving ? SERVING : NOT_SERVING)));
    });
  };

  grpc.on("stream", (stream, headers) => {
    if (headers[":path"] === HEALTH_CHECK_PATH) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => answerHealth(stream, Buffer.concat(chunks)));
      return;
    }
    const path = headers[":path"];
    if (path?.startsWith(REFLECTION_PATH_PREFIX) === true) {
      forward(stream, headers, "reflection", reflectionSessionNow);
      return;
    }
    const service = routeOf(path);
    const target = service === undefined ? undefined : options.services[service];
    if (service === undefined || target === undefined) {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12", "grpc-message": "no Keyhold service serves this path here" }, { endStream: true });
      return;
    }
    forward(stream, headers, service, () => sessionFor(service, target.grpc));
  });

  /** Passes one gRPC call through to the session `upstreamSession` gives, both ways, trailers included. */
  const forward = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, name: string, upstreamSession: () => ClientHttp2Session): void => {
    let upstream: ClientHttp2Stream;
    try {
      upstream = upstreamSession().request({ ":method": "POST", ":path": headers[":path"], ...forwardable(headers) });
    } catch {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "14", "grpc-message": `${name} is unavailable` }, { endStream: true });
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
      else if (!stream.destroyed) stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "14", "grpc-message": `${name} is unavailable` }, { endStream: true });
    });
    stream.on("close", () => {
      if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    });
    stream.pipe(upstream);
    upstream.pipe(stream);
  };

  /** GET /healthz: every service's /healthz, merged; SERVING (200) only when all are. */
  const answerHealthz = (res: ServerResponse): void => {
    const entries = GATEWAY_ROUTES.map(([, service]) => service)
      .filter((service, i, all) => all.indexOf(service) === i)
      .flatMap((service) => {
        const target = options.services[service];
        return target === undefined ? [] : [[service, target.http] as const];
      });
    void Promise.all(
      entries.map(
        ([service, address]) =>
          new Promise<{ status: string; services: Record<string, string> } | undefined>((resolve) => {
            const { host, port } = hostAndPort(address);
            const request = httpsRequest({ host, port, method: "GET", path: "/healthz", ca: options.ca, servername: service, agent: false, timeout: 5_000 }, (response) => {
              const chunks: Buffer[] = [];
              response.on("data", (chunk: Buffer) => chunks.push(chunk));
              response.on("end", () => {
                try {
                  resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as { status: string; services: Record<string, string> });
                } catch {
                  resolve(undefined);
                }
              });
            });
            request.on("timeout", () => request.destroy());
            request.on("error", () => resolve(undefined));
            request.end();
          }),
      ),
    ).then((answers) => {
      const services: Record<string, string> = {};
      let serving = answers.length > 0;
      for (const answer of answers) {
        if (answer === undefined || answer.status !== "SERVING") serving = false;
        Object.assign(services, answer?.services ?? {});
      }
      res.writeHead(serving ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: serving ? "SERVING" : "NOT_SERVING", services }));
    });
  };

  const http: HttpServer = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      answerHealthz(res);
      return;
    }
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
      reflectionSession?.close();
      for (const session of clients) session.destroy();
      await Promise.all([
        new Promise<void>((resolve) => grpc.close(() => resolve())),
        new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        }),
        reflection.close(),
      ]);
    },
  };
}
