// Over real gRPC on loopback: a caller that is not a trusted Keyhold service (anyone reaching
// the port) is refused PERMISSION_DENIED ACCESS_DENIED, on the gRPC and the Connect front door.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema, HsmService } from "@keyhold/proto";
import { createSilentLogger, KeyholdServer } from "@keyhold/server-kit";
import { createSoftHsmToken, startTestGateway, type SoftHsmToken, type TestGateway } from "./test-support.ts";

let token: SoftHsmToken;
let gateway: TestGateway;
let server: KeyholdServer;
let ports: { grpc: number; http: number };
before(async () => {
  token = createSoftHsmToken();
  gateway = startTestGateway(token);
  server = new KeyholdServer({
    bindings: gateway.app.bindings,
    interceptors: [],
    logger: createSilentLogger(),
    grpc: { host: "127.0.0.1", port: 0 },
    http: { host: "127.0.0.1", port: 0 },
    maxMessageBytes: 64 * 1024,
    corsOrigins: [],
    shutdownGraceMs: 1000,
  });
  const bound = await server.start();
  ports = { grpc: bound.grpcPort ?? 0, http: bound.httpPort ?? 0 };
});
after(async () => {
  await server.stop();
  await gateway.close();
  token.remove();
});

test("a network caller is PERMISSION_DENIED ACCESS_DENIED (gRPC and Connect)", async () => {
  const transports = [
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${ports.grpc}` }),
    createConnectTransport({ baseUrl: `http://127.0.0.1:${ports.http}`, httpVersion: "1.1" }),
  ];
  for (const transport of transports) {
    const client = createClient(HsmService, transport);
    for (const call of [() => client.getStatus({}), () => client.generateRandom({ length: 16 }), () => client.destroyKey({ keyId: "any" })]) {
      const error = await call().then(
        () => assert.fail("expected a refusal"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(error.code, Code.PermissionDenied);
      assert.equal(error.findDetails(ErrorInfoSchema)[0]?.reason, "ACCESS_DENIED");
    }
  }
});
