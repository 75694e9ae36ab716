// connect-node's request routing (as its connectNodeAdapter does), plus one repair: errors that
// connect-es raises itself before any Keyhold code runs (an undecodable request body answered as
// `internal` "parse binary: ...", or JSON decode errors) leave without the ErrorInfo every
// Keyhold error carries. For Connect unary responses we rewrite those into INVALID_ARGUMENT with
// an ErrorInfo naming the request, as the gRPC front door answers the same input.
import type { IncomingMessage, ServerResponse } from "node:http";
import { toBinary } from "@bufbuild/protobuf";
import { createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { createAsyncIterable, readAllBytes, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { ErrorInfoSchema } from "@keyhold/proto";
import { ERROR_DOMAIN } from "./errors.ts";
import type { Logger } from "./logger.ts";

export interface ConnectAdapterOptions extends ConnectRouterOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly contextValues: (req: IncomingMessage) => ContextValues;
  readonly logger: Logger;
}

type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;

const DECODE_FAILURE = /^(parse binary|parse JSON|cannot decode|unmarshal)/i;
const MAX_ERROR_BODY = 64 * 1024;

function badRequestBody(): Uint8Array {
  const info = toBinary(ErrorInfoSchema, { $typeName: "google.rpc.ErrorInfo", reason: "INVALID_ARGUMENT", domain: ERROR_DOMAIN, metadata: { field: "request" } });
  const body = {
    code: "invalid_argument",
    message: "request: not a valid protobuf message",
    details: [{ type: "google.rpc.ErrorInfo", value: Buffer.from(info).toString("base64").replace(/=+$/, "") }],
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

/** Rewrites a Connect unary error raised by the protocol layer (no details) into INVALID_ARGUMENT. */
async function repairProtocolError(response: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (response.status < 400 || response.body === undefined) return response;
  if (response.header?.get("content-type") !== "application/json") return response;
  const bytes = await readAllBytes(response.body, MAX_ERROR_BODY);
  let parsed: { code?: unknown; message?: unknown; details?: unknown } | undefined;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes)) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const undetailed = parsed !== undefined && (parsed.details === undefined || (Array.isArray(parsed.details) && parsed.details.length === 0));
  const decodeFailure =
    undetailed &&
    (parsed!.code === "internal" || parsed!.code === "invalid_argument") &&
    typeof parsed!.message === "string" &&
    DECODE_FAILURE.test(parsed!.message);
  if (!decodeFailure) return { ...response, body: createAsyncIterable([bytes]) };
  const body = badRequestBody();
  const header = new Headers(response.header);
  header.set("content-length", String(body.byteLength));
  return { ...response, status: 400, header, body: createAsyncIterable([body]) };
}

export function createConnectAdapter(options: ConnectAdapterOptions): NodeListener {
  const router = createConnectRouter({ ...options, acceptCompression: [compressionGzip, compressionBrotli] });
  options.routes(router);
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, handler]));
  return (req, res) => {
    const handler = handlers.get((req.url ?? "").split("?", 2)[0] ?? "");
    if (handler === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    const unaryConnect = handler.method.methodKind === "unary" && (req.headers["content-type"] ?? "").startsWith("application/");
    handler(universalRequestFromNodeRequest(req, res, undefined, options.contextValues(req)))
      .then((response) => (unaryConnect ? repairProtocolError(response) : response))
      .then((response) => universalResponseToNodeResponse(response, res))
      .catch((reason: unknown) => {
        options.logger.warn("connect handler failed", { method: handler.method.name, cause: reason instanceof Error ? reason.message : typeof reason });
      });
  };
}
