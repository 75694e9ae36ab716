// The XKS Proxy API's HTTP front door (node:http or node:https, HTTP/1.1 with keep-alive): the
// ping path for load balancers, then for XKS URIs the method (POST; anything else 405), a bound
// on requests in flight (beyond it ThrottlingException 429), the body (bounded), the SigV4 signature against the credentials of the path's prefix (service
// kms-xks-proxy, the configured region, ±5 minutes), the JSON body, and the handler. Every
// request gets one log line with its metadata, outcome and processing time — never the body.
// The processing time is also sent as `Server-Timing: proc;dur=<ms>`.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import { readFileSync } from "node:fs";
import { verifyRequest, type VerifyFailure } from "@keyhold/sigv4";
import { parseXksPath, XksError, type XksOperation } from "@keyhold/xks";
import type { AppContext } from "../context.ts";
import { decrypt } from "../handlers/decrypt.ts";
import { encrypt } from "../handlers/encrypt.ts";
import { getHealthStatus } from "../handlers/get-health-status.ts";
import { getKeyMetadata } from "../handlers/get-key-metadata.ts";
import type { XksCall, XksHandler } from "../handlers/xks-call.ts";
import { toXksError } from "./xks-errors.ts";

export const XKS_SIGV4_SERVICE = "kms-xks-proxy";

const HANDLERS: Readonly<Record<XksOperation, XksHandler>> = {
  metadata: getKeyMetadata,
  encrypt,
  decrypt,
  health: getHealthStatus,
};

const AUTH_MESSAGES: Readonly<Record<VerifyFailure, string>> = {
  "missing-authorization": "the request is not signed (no Authorization header)",
  "malformed-authorization": "the Authorization header is not AWS4-HMAC-SHA256",
  "missing-date": "the request has no valid X-Amz-Date",
  "date-mismatch": "the credential scope date is not the X-Amz-Date's",
  "clock-skew": "the request time is more than the allowed skew from the proxy's clock",
  "wrong-region": "the credential scope's region is not the proxy's",
  "wrong-service": "the credential scope's service is not kms-xks-proxy",
  "unsigned-required-header": "host and x-amz-date must be signed",
  "unknown-access-key": "the access key id is not known under this path prefix",
  "signature-mismatch": "the signature does not match",
};

class BodyTooLarge extends Error {}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers["content-length"] ?? "0");
    if (declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners("data");
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks, size)));
    request.on("error", reject);
  });
}

function headerPairs(request: IncomingMessage): [string, string][] {
  const raw = request.rawHeaders;
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}

function send(response: ServerResponse, status: number, body: object | undefined, startedAt: number, extra: Readonly<Record<string, string>> = {}): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "server-timing": `proc;dur=${(performance.now() - startedAt).toFixed(3)}`,
    ...extra,
  });
  response.end(text);
}

/** The request listener of the XKS API. */
export function createXksListener(ctx: AppContext): (request: IncomingMessage, response: ServerResponse) => void {
  const log = ctx.logger;
  let inFlight = 0;
  return (request, response) => {
    const startedAt = performance.now();
    const url = request.url ?? "/";
    const queryAt = url.indexOf("?");
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const query = queryAt < 0 ? "" : url.slice(queryAt + 1);
    if (path === ctx.config.pingPath) {
      if (request.method === "GET" || request.method === "HEAD") {
        response.writeHead(200, { "content-type": "text/plain" });
        response.end(request.method === "HEAD" ? undefined : "pong\n");
      } else {
        response.writeHead(405, { allow: "GET, HEAD" });
        response.end();
      }
      request.resume();
      return;
    }
    const route = parseXksPath(path, ctx.credentials.prefixes());
    const fields: XksCall["log"] = { method: request.method, operation: route?.operation, prefix: route?.prefix, externalKeyId: route?.externalKeyId };
    const finish = (status: number, body: object | undefined, error?: XksError, extra?: Readonly<Record<string, string>>) => {
      send(response, status, body, startedAt, extra);
      const line = { ...fields, status, errorName: error?.errorName, errorMessage: error?.message, ms: Number((performance.now() - startedAt).toFixed(3)) };
      if (error === undefined) log.info("xks request", line);
      else if (status >= 500) log.error("xks request failed", line);
      else log.warn("xks request refused", line);
    };
    if (route === undefined) {
      request.resume();
      const error = new XksError("InvalidUriPathException", "the URI path is not an XKS API path this proxy serves");
      finish(404, error.toJSON(), error);
      return;
    }
    if (request.method !== "POST") {
      request.resume();
      finish(405, { errorMessage: `${request.method ?? "this method"} is not allowed: XKS API requests are POST` }, undefined, { allow: "POST" });
      return;
    }
    if (inFlight >= ctx.config.maxInFlight) {
      request.resume();
      const error = new XksError("ThrottlingException", "the proxy is serving as many requests as it may: retry");
      finish(429, error.toJSON(), error);
      return;
    }
    inFlight++;
    void serve(request, route, path, query, fields, startedAt).finally(() => inFlight--).then(
      (body) => finish(200, body),
      (error: unknown) => {
        const xks = toXksError(error);
        if (xks.errorName === "InternalException" && !(error instanceof XksError)) {
          // The cause is logged (no request data in it), never sent.
          log.error("xks internal error", { ...fields, cause: error instanceof Error ? `${error.name}: ${error.message}` : "unknown" });
        }
        finish(xks.status, xks.toJSON(), xks);
      },
    );
  };

  async function serve(request: IncomingMessage, route: NonNullable<ReturnType<typeof parseXksPath>>, path: string, query: string, fields: XksCall["log"], startedAt: number): Promise<object> {
    let body: Buffer;
    try {
      body = await readBody(request, ctx.config.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        request.resume();
        throw new XksError("ValidationException", `body: larger than ${ctx.config.maxBodyBytes} bytes`);
      }
      throw error;
    }
    try {
      const outcome = verifyRequest(
        { method: "POST", path, query, headers: headerPairs(request), body },
        {
          region: ctx.config.region,
          service: XKS_SIGV4_SERVICE,
          now: ctx.now(),
          maxSkewMs: ctx.config.maxSkewMs,
          secretsOf: (accessKeyId) => ctx.credentials.secretsOf(route.prefix, accessKeyId),
        },
      );
      if (!outcome.ok) {
        fields["authFailure"] = outcome.failure;
        throw new XksError("AuthenticationFailedException", AUTH_MESSAGES[outcome.failure]);
      }
      fields["accessKeyId"] = outcome.accessKeyId;
      let json: unknown;
      try {
        json = JSON.parse(body.toString("utf8"));
      } catch {
        throw new XksError("ValidationException", "body: not valid JSON");
      }
      const call: XksCall = { route, body: json, deadline: startedAt + ctx.config.hsmDeadlineMs, log: fields };
      return await HANDLERS[route.operation](ctx, call);
    } finally {
      // The body may hold plaintext: the parsed copies are the handlers'; this one goes now.
      body.fill(0);
    }
  }
}

/** The XKS API server: HTTPS (TLS 1.2+, optionally mTLS with accepted subjects) or plain HTTP. */
export function createXksServer(ctx: AppContext): Server {
  const listener = createXksListener(ctx);
  const tls = ctx.config.tls;
  let server: Server;
  if (tls === undefined) {
    server = createHttpServer({ keepAlive: true }, listener);
  } else {
    const clientCa = tls.clientCaFile === undefined ? undefined : readFileSync(tls.clientCaFile);
    server = createHttpsServer(
      {
        cert: readFileSync(tls.certFile),
        key: readFileSync(tls.keyFile),
        minVersion: "TLSv1.2",
        ...(clientCa === undefined ? {} : { ca: clientCa, requestCert: true, rejectUnauthorized: true }),
      },
      listener,
    );
    if (tls.clientSubjects.length > 0) {
      const accepted = new Set(tls.clientSubjects);
      // The handshake verified the chain; a certificate of another subject is cut off before any request.
      server.on("secureConnection", (socket: TLSSocket) => {
        const cn: unknown = socket.getPeerCertificate().subject?.CN;
        const names = (Array.isArray(cn) ? cn : [cn]).filter((name): name is string => typeof name === "string");
        if (!names.some((name) => accepted.has(name))) {
          ctx.logger.warn("xks tls client refused: subject not accepted", { subject: names.join(",") });
          socket.destroy();
        }
      });
    }
  }
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}
