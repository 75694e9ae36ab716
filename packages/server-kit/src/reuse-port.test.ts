// SO_REUSEPORT (KeyholdServerOptions.reusePort): two servers on one address, both ports; new
// connections are spread among them by the kernel, and a server that stops leaves the other one
// serving the address.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { EchoService } from "@keyhold/proto";
import { bindService } from "./call.ts";
import { fixedIdentity, identityInterceptor } from "./identity.ts";
import { createSilentLogger } from "./logger.ts";
import { KeyholdServer, type ListenAddress } from "./server.ts";

const principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:root", kind: "root", name: "root" } as const;

function replica(name: string, grpc: ListenAddress, http: ListenAddress): KeyholdServer {
  const binding = bindService(EchoService, {
    async echo() {
      return { payload: new TextEncoder().encode(name) };
    },
  });
  return new KeyholdServer({
    bindings: [binding],
    interceptors: [identityInterceptor(fixedIdentity(principal))],
    logger: createSilentLogger(),
    grpc,
    http,
    maxMessageBytes: 64 * 1024,
    corsOrigins: [],
    shutdownGraceMs: 200,
    reusePort: true,
  });
}

/** One call per fresh connection (a new transport each), counting who answered. */
async function spread(call: () => Promise<string>, times: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < times; i++) {
    const who = await call();
    seen[who] = (seen[who] ?? 0) + 1;
  }
  return seen;
}

describe("reusePort", () => {
  test("two servers share both addresses; stopping one leaves the other", async () => {
    const a = replica("a", { host: "127.0.0.1", port: 0 }, { host: "127.0.0.1", port: 0 });
    const { grpcPort, httpPort } = await a.start();
    const b = replica("b", { host: "127.0.0.1", port: grpcPort! }, { host: "127.0.0.1", port: httpPort! });
    try {
      const bound = await b.start();
      assert.deepEqual(bound, { grpcPort, httpPort });
      const viaGrpc = () => createClient(EchoService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort!}` })).echo({}, { timeoutMs: 5000 }).then((r) => new TextDecoder().decode(r.payload));
      const viaHttp = () =>
        createClient(EchoService, createConnectTransport({ baseUrl: `http://127.0.0.1:${httpPort!}`, httpVersion: "1.1", nodeOptions: { agent: false } }))
          .echo({}, { timeoutMs: 5000 })
          .then((r) => new TextDecoder().decode(r.payload));
      const grpcSeen = await spread(viaGrpc, 40);
      assert.ok((grpcSeen["a"] ?? 0) > 0 && (grpcSeen["b"] ?? 0) > 0, JSON.stringify(grpcSeen));
      const httpSeen = await spread(viaHttp, 40);
      assert.ok((httpSeen["a"] ?? 0) > 0 && (httpSeen["b"] ?? 0) > 0, JSON.stringify(httpSeen));
      await a.stop();
      assert.deepEqual(await spread(viaGrpc, 10), { b: 10 });
      assert.deepEqual(await spread(viaHttp, 10), { b: 10 });
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test("without it, a second server on a taken port fails to start", async () => {
    const a = new KeyholdServer({
      bindings: [], interceptors: [], logger: createSilentLogger(), grpc: undefined, http: { host: "127.0.0.1", port: 0 },
      maxMessageBytes: 64 * 1024, corsOrigins: [], shutdownGraceMs: 200,
    });
    const { httpPort } = await a.start();
    const b = new KeyholdServer({
      bindings: [], interceptors: [], logger: createSilentLogger(), grpc: undefined, http: { host: "127.0.0.1", port: httpPort! },
      maxMessageBytes: 64 * 1024, corsOrigins: [], shutdownGraceMs: 200,
    });
    try {
      await assert.rejects(b.start(), /EADDRINUSE/);
    } finally {
      await a.stop();
    }
  });
});
