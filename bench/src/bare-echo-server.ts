// The reference target: keyhold.bench.v1.EchoService/Echo answered by a bare node:http2 server
// with no gRPC library at all. It reads the request's one 5-byte-prefixed message and sends
// the same bytes back: EchoRequest and EchoResponse both hold `bytes payload = 1`, so a
// request's encoding is a valid response's encoding. Run as a child: node bare-echo-server.ts <host>
import { createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { announce, hostArgument, stopOnSignal } from "./server-entry.ts";

const ECHO_PATH = "/keyhold.bench.v1.EchoService/Echo";
const FRAME_HEADER_BYTES = 5;
const GRPC_UNIMPLEMENTED = 12;
const GRPC_INVALID_ARGUMENT = 3;

function answerError(stream: ServerHttp2Stream, code: number, message: string): void {
  // A trailers-only response: status and message in the one HEADERS frame.
  stream.respond(
    { ":status": 200, "content-type": "application/grpc", "grpc-status": String(code), "grpc-message": encodeURIComponent(message) },
    { endStream: true },
  );
}

function answerEcho(stream: ServerHttp2Stream, body: Buffer): void {
  if (body.length < FRAME_HEADER_BYTES) return answerError(stream, GRPC_INVALID_ARGUMENT, "no request message");
  const compressed = body[0] !== 0;
  const length = body.readUInt32BE(1);
  if (compressed) return answerError(stream, GRPC_UNIMPLEMENTED, "compressed messages are not supported");
  if (body.length !== FRAME_HEADER_BYTES + length) return answerError(stream, GRPC_INVALID_ARGUMENT, "expected exactly one request message");
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(body);
}

function onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  // A client that goes away mid-call (ghz at the end of a timed run) resets its streams.
  stream.on("error", () => {});
  // Anything else (server reflection, say) is answered at once: its client may never half-close.
  if (headers[":path"] !== ECHO_PATH) return answerError(stream, GRPC_UNIMPLEMENTED, `unknown method ${String(headers[":path"])}`);
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.once("end", () => {
    if (!stream.destroyed) answerEcho(stream, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  });
}

const server = createServer();
server.on("stream", onStream);
server.on("sessionError", () => {});
server.listen(0, hostArgument(), () => announce((server.address() as AddressInfo).port));
stopOnSignal(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      setTimeout(resolve, 1_000).unref();
    }),
);
