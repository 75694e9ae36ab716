// The topology's plaintext gateway: gRPC (h2c) and Connect (HTTP/1.1) calls reach the service
// serving their proto package over TLS; errors (trailers-only and with details) come back as
// the service sent them; a path no service serves is UNIMPLEMENTED; and a call through the
// gateway is an outside client's, never a service's.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { EchoService, SealService } from "@keyhold/proto";
import { bindService, createDevCa, createSilentLogger, fixedIdentity, identityInterceptor, KeyholdError, KeyholdServer } from "@keyhold/server-kit";
import { startGateway, type Gateway } from "./gateway.ts";

const principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:root", kind: "root", name: "root" } as const;

describe("topology gateway", () => {
  let dir: string;
  let server: KeyholdServer;
  let gateway: Gateway;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "keyhold-gateway-"));
    const ca = createDevCa(join(dir, "ca"));
    const seal = bindService(SealService, {
      async unseal(request) {
        if (request.share === "bad") throw new KeyholdError("INVALID_ARGUMENT", "share: not a share", { field: "share" });
        return {};
      },
      async getSealStatus(_request, call) {
        // threshold 1: the call came from a Keyhold service.
        return { status: { sealable: true, threshold: call.callingService === undefined ? 0 : 1, shares: Number(call.header("x-probe") ?? "0") } };
      },
      async seal() {
        return {};
      },
    });
    const cert = ca.services["key-service"];
    server = new KeyholdServer({
      bindings: [seal],
      interceptors: [identityInterceptor(fixedIdentity(principal))],
      logger: createSilentLogger(),
      grpc: { host: "127.0.0.1", port: 0 },
      http: { host: "127.0.0.1", port: 0 },
      maxMessageBytes: 64 * 1024,
      corsOrigins: [],
      shutdownGraceMs: 200,
      tls: { certFile: cert.certFile, keyFile: cert.keyFile, clientCaFile: ca.caFile, requireClientCert: false },
    });
    const { grpcPort, httpPort } = await server.start();
    gateway = await startGateway({
      host: "127.0.0.1",
      services: { "key-service": { grpc: `127.0.0.1:${grpcPort!}`, http: `127.0.0.1:${httpPort!}` } },
      ca: readFileSync(ca.caFile),
    });
  });

  after(async () => {
    await gateway.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const transports = () => [
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${gateway.grpcPort}` }),
    createConnectTransport({ baseUrl: `http://127.0.0.1:${gateway.httpPort}`, httpVersion: "1.1" }),
    createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${gateway.httpPort}`, httpVersion: "1.1" }),
  ];

  test("calls reach the service, headers included; through the gateway nobody is a service", async () => {
    for (const transport of transports()) {
      const { status } = await createClient(SealService, transport).getSealStatus({}, { timeoutMs: 5000, headers: { "x-probe": "7" } });
      assert.equal(status?.shares, 7);
      assert.equal(status?.threshold, 0);
    }
  });

  test("the service's errors come back with their code and details", async () => {
    for (const transport of transports()) {
      const error = ConnectError.from(await createClient(SealService, transport).unseal({ share: "bad" }, { timeoutMs: 5000 }).then(() => assert.fail("expected INVALID_ARGUMENT"), (e: unknown) => e));
      assert.equal(error.code, Code.InvalidArgument);
      assert.match(error.rawMessage, /share/);
    }
  });

  test("a path no service serves is UNIMPLEMENTED", async () => {
    const error = ConnectError.from(await createClient(EchoService, transports()[0]!).echo({}, { timeoutMs: 5000 }).then(() => assert.fail("expected UNIMPLEMENTED"), (e: unknown) => e));
    assert.equal(error.code, Code.Unimplemented);
  });
});
