// The server kit through real sockets: one handler set answered over gRPC (grpc-js), Connect
// and gRPC-Web with the same errors, health, and graceful shutdown.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { EchoService, ErrorInfoSchema, RetryInfoSchema, StatusSchema } from "@keyhold/proto";
import { bindService } from "./call.ts";
import { KeyholdError, invalidArgument } from "./errors.ts";
import { fixedIdentity, identityInterceptor, callerOf } from "./identity.ts";
import { createSilentLogger } from "./logger.ts";
import { KeyholdServer } from "./server.ts";

const principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:root", kind: "root", name: "root" } as const;

let release: () => void = () => {};
let inFlight: Promise<void> = Promise.resolve();

function echoBinding() {
  return bindService(EchoService, {
    async echo(request, call) {
      const command = new TextDecoder().decode(request.payload);
      switch (command) {
        case "invalid":
          throw invalidArgument("payload", "is not acceptable");
        case "throttle":
          throw new KeyholdError("THROTTLED", "slow down", { retryAfterMs: 1500 });
        case "crash":
          throw new Error("secret-internal-detail 0xDEADBEEF");
        case "whoami":
          return { payload: new TextEncoder().encode(callerOf(call).krn) };
        case "hold":
          await inFlight;
          return { payload: new TextEncoder().encode("held") };
        default:
          return { payload: request.payload };
      }
    },
  });
}

function startServer(shutdownGraceMs = 5000) {
  return new KeyholdServer({
    bindings: [echoBinding()],
    interceptors: [identityInterceptor(fixedIdentity(principal))],
    logger: createSilentLogger(),
    grpc: { host: "127.0.0.1", port: 0 },
    http: { host: "127.0.0.1", port: 0 },
    maxMessageBytes: 64 * 1024,
    corsOrigins: ["https://console.example"],
    shutdownGraceMs,
  });
}

const text = (s: string) => new TextEncoder().encode(s);

describe("KeyholdServer front doors", () => {
  let server: KeyholdServer;
  let clients: Record<string, Client<typeof EchoService>>;
  let grpcPort: number;
  let httpPort: number;

  before(async () => {
    server = startServer();
    const bound = await server.start();
    grpcPort = bound.grpcPort!;
    httpPort = bound.httpPort!;
    server.health.setServing(EchoService.typeName, true);
    clients = {
      grpc: createClient(EchoService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` })),
      connect: createClient(EchoService, createConnectTransport({ baseUrl: `http://127.0.0.1:${httpPort}`, httpVersion: "1.1" })),
      grpcWeb: createClient(EchoService, createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${httpPort}`, httpVersion: "1.1" })),
    };
  });
  after(() => server.stop());

  for (const protocol of ["grpc", "connect", "grpcWeb"]) {
    test(`${protocol}: answers, with the resolved identity`, async () => {
      assert.deepEqual((await clients[protocol]!.echo({ payload: text("hello") })).payload, text("hello"));
      assert.equal(new TextDecoder().decode((await clients[protocol]!.echo({ payload: text("whoami") })).payload), principal.krn);
    });

    test(`${protocol}: a domain error carries code, message and one ErrorInfo naming the field`, async () => {
      const error = ConnectError.from(await clients[protocol]!.echo({ payload: text("invalid") }).catch((e: unknown) => e));
      assert.equal(error.code, Code.InvalidArgument);
      assert.equal(error.rawMessage, "payload: is not acceptable");
      const infos = error.findDetails(ErrorInfoSchema);
      assert.equal(infos.length, 1);
      assert.equal(infos[0]!.reason, "INVALID_ARGUMENT");
      assert.equal(infos[0]!.domain, "keyhold.dev");
      assert.deepEqual(infos[0]!.metadata, { field: "payload" });
    });

    test(`${protocol}: throttling is RESOURCE_EXHAUSTED with RetryInfo`, async () => {
      const error = ConnectError.from(await clients[protocol]!.echo({ payload: text("throttle") }).catch((e: unknown) => e));
      assert.equal(error.code, Code.ResourceExhausted);
      assert.equal(error.findDetails(ErrorInfoSchema)[0]?.reason, "THROTTLED");
      const retry = error.findDetails(RetryInfoSchema)[0];
      assert.equal(retry?.retryDelay?.seconds, 1n);
      assert.equal(retry?.retryDelay?.nanos, 500_000_000);
    });

    test(`${protocol}: an unexpected error is INTERNAL with no detail and no leaked message`, async () => {
      const error = ConnectError.from(await clients[protocol]!.echo({ payload: text("crash") }).catch((e: unknown) => e));
      assert.equal(error.code, Code.Internal);
      assert.equal(error.rawMessage, "internal error");
      assert.equal(error.details.length, 0);
      assert.doesNotMatch(error.message, /secret|DEADBEEF/);
    });
  }

  test("grpc-js client sees google.rpc.Status in grpc-status-details-bin", async () => {
    const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    const error = await new Promise<grpc.ServiceError>((resolve) => {
      client.makeUnaryRequest(
        "/keyhold.bench.v1.EchoService/Echo",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 7, ...text("invalid")]),
        (err) => resolve(err!),
      );
    });
    client.close();
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    const raw = error.metadata.get("grpc-status-details-bin")[0] as Buffer;
    const status = fromBinary(StatusSchema, raw);
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    const info = anyUnpack(status.details[0]!, ErrorInfoSchema);
    assert.equal(info?.reason, "INVALID_ARGUMENT");
  });

  test("a request that is not protobuf is INVALID_ARGUMENT, and the server stays up", async () => {
    const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    const error = await new Promise<grpc.ServiceError>((resolve) => {
      client.makeUnaryRequest("/keyhold.bench.v1.EchoService/Echo", (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0xff, 0xff, 0xff]), (err) =>
        resolve(err!),
      );
    });
    client.close();
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    assert.deepEqual((await clients["grpc"]!.echo({ payload: text("still up") })).payload, text("still up"));
  });

  test("a message over the size limit is refused", async () => {
    const error = ConnectError.from(await clients["grpc"]!.echo({ payload: new Uint8Array(70 * 1024) }).catch((e: unknown) => e));
    assert.equal(error.code, Code.ResourceExhausted);
  });

  test("/healthz and grpc.health.v1 report SERVING", async () => {
    const response = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "SERVING", services: { "keyhold.bench.v1.EchoService": "SERVING" } });
  });

  test("CORS: an allowed origin gets preflight answers, another origin does not", async () => {
    const allowed = await fetch(`http://127.0.0.1:${httpPort}/keyhold.bench.v1.EchoService/Echo`, {
      method: "OPTIONS",
      headers: { origin: "https://console.example", "access-control-request-method": "POST" },
    });
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://console.example");
    const other = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { headers: { origin: "https://evil.example" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });
});

describe("KeyholdServer lifecycle", () => {
  test("not ready until the app says so: health NOT_SERVING, /healthz 503", async () => {
    const server = startServer();
    const { httpPort } = await server.start();
    try {
      const response = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      assert.equal(response.status, 503);
      assert.equal(((await response.json()) as { status: string }).status, "NOT_SERVING");
    } finally {
      await server.stop();
    }
  });

  test("stop() lets an in-flight call finish, then refuses new connections", async () => {
    const server = startServer();
    const { grpcPort } = await server.start();
    server.health.setServing(EchoService.typeName, true);
    inFlight = new Promise<void>((resolve) => (release = resolve));
    const client = createClient(EchoService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` }));
    const held = client.echo({ payload: text("hold") });
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the call reach the handler
    const stopped = server.stop();
    assert.equal(server.health.overall, "NOT_SERVING");
    release();
    assert.deepEqual((await held).payload, text("held"));
    await stopped;
    const fresh = createClient(EchoService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` }));
    const error = ConnectError.from(await fresh.echo({ payload: text("x") }).catch((e: unknown) => e));
    assert.equal(error.code, Code.Unavailable);
  });

  test("stop() cuts calls that outlive the grace period", async () => {
    const server = startServer(100);
    const { grpcPort } = await server.start();
    inFlight = new Promise<void>(() => {}); // never released
    const client = createClient(EchoService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` }));
    const held = client.echo({ payload: text("hold") }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.stop();
    assert.ok((await held) instanceof Error);
  });
});
