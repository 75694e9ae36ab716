// The network transport between Keyhold services, through real sockets and a real dev CA: mTLS
// both ways (the callee sees the caller's service identity; a server whose certificate is another
// service's is refused), deadline propagation from the call being served, retries on UNAVAILABLE
// for idempotent methods only and never past the deadline.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EchoService, SealService } from "@keyhold/proto";
import { bindService, type ServiceBinding } from "./call.ts";
import { currentCall } from "./call-scope.ts";
import { createDevCa, type DevCaResult } from "./dev-ca.ts";
import { KeyholdError } from "./errors.ts";
import { fixedIdentity, identityInterceptor } from "./identity.ts";
import { createSilentLogger } from "./logger.ts";
import { createPeerTransport, isRetriable, loadPeerTls } from "./peer-transport.ts";
import { KeyholdServer } from "./server.ts";
import type { KeyholdServiceName } from "./service-identity.ts";

const principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:root", kind: "root", name: "root" } as const;

/** What the callee (a SealService) saw and how it answers. */
const callee = {
  timeouts: [] as (number | undefined)[],
  callers: [] as (string | undefined)[],
  statusCalls: 0,
  sealCalls: 0,
  /** Answer this many calls (of either method) with UNAVAILABLE first. */
  failNext: 0,
  alwaysFail: false,
};

function maybeFail(): void {
  if (callee.alwaysFail || callee.failNext > 0) {
    callee.failNext = Math.max(0, callee.failNext - 1);
    throw new KeyholdError("SERVICE_UNAVAILABLE", "try again");
  }
}

const sealBinding = bindService(SealService, {
  async unseal() {
    return {};
  },
  async getSealStatus(_request, call) {
    callee.statusCalls++;
    callee.timeouts.push(call.timeoutMs());
    callee.callers.push(call.callingService);
    maybeFail();
    return { status: { sealable: false } };
  },
  async seal() {
    callee.sealCalls++;
    maybeFail();
    return {};
  },
});

async function start(bindings: ServiceBinding[], tls: { certFile: string; keyFile: string; caFile: string } | undefined) {
  const server = new KeyholdServer({
    bindings,
    interceptors: [identityInterceptor(fixedIdentity(principal))],
    logger: createSilentLogger(),
    grpc: { host: "127.0.0.1", port: 0 },
    http: undefined,
    maxMessageBytes: 64 * 1024,
    corsOrigins: [],
    shutdownGraceMs: 500,
    callScope: true,
    tls: tls === undefined ? undefined : { certFile: tls.certFile, keyFile: tls.keyFile, clientCaFile: tls.caFile, requireClientCert: false },
  });
  const { grpcPort } = await server.start();
  return { server, address: `127.0.0.1:${grpcPort!}` };
}

describe("createPeerTransport", () => {
  let dir: string;
  let ca: DevCaResult;
  let sealServer: { server: KeyholdServer; address: string };
  let front: { server: KeyholdServer; address: string };
  const transports: Transport[] = [];

  const peer = async (as: KeyholdServiceName, peerService: KeyholdServiceName, extra: { defaultTimeoutMs?: number; maxAttempts?: number } = {}) => {
    const tls = await loadPeerTls({ ...ca.services[as], caFile: ca.caFile });
    const transport = createPeerTransport({
      address: sealServer.address,
      peerService,
      tls,
      callingService: as,
      ...(extra.defaultTimeoutMs === undefined ? {} : { defaultTimeoutMs: extra.defaultTimeoutMs }),
      retry: { initialBackoffMs: 20, maxBackoffMs: 200, ...(extra.maxAttempts === undefined ? {} : { maxAttempts: extra.maxAttempts }) },
    });
    transports.push(transport);
    return createClient(SealService, transport);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "keyhold-peer-transport-"));
    ca = createDevCa(join(dir, "ca"));
    // The callee presents key-service's certificate.
    sealServer = await start([sealBinding], { ...ca.services["key-service"], caFile: ca.caFile });
    // A front service (secrets-service) whose Echo calls the callee while serving.
    const toKeys = await peer("secrets-service", "key-service", { defaultTimeoutMs: 7000 });
    const echo = bindService(EchoService, {
      async echo() {
        await toKeys.getSealStatus({});
        return {};
      },
    });
    front = await start([echo], undefined);
  });

  after(async () => {
    await sealServer.server.stop();
    await front.server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const reset = () => {
    callee.timeouts = [];
    callee.callers = [];
    callee.statusCalls = 0;
    callee.sealCalls = 0;
    callee.failNext = 0;
    callee.alwaysFail = false;
  };

  test("the proto's idempotency level decides what is retriable", () => {
    assert.equal(isRetriable(SealService.method.getSealStatus), true);
    assert.equal(isRetriable(SealService.method.seal), false);
    assert.equal(isRetriable(SealService.method.unseal), false);
  });

  test("mTLS: the callee sees the calling service; the caller checks the callee is the service it asked for", async () => {
    reset();
    const client = await peer("secrets-service", "key-service");
    await client.getSealStatus({}, { timeoutMs: 5000 });
    assert.deepEqual(callee.callers, ["secrets-service"]);
    // The callee's certificate is key-service's, not audit-service's: refused before any call.
    reset();
    const wrong = await peer("secrets-service", "audit-service", { maxAttempts: 1 });
    const error = ConnectError.from(await wrong.getSealStatus({}, { timeoutMs: 5000 }).then(() => assert.fail("expected a refusal"), (e: unknown) => e));
    assert.ok([Code.Unavailable, Code.Internal].includes(error.code), Code[error.code]);
    assert.match(error.rawMessage, /not key-service|audit-service/);
    assert.equal(callee.statusCalls, 0);
  });

  test("an outgoing call made while serving one carries what is left of its deadline", async () => {
    reset();
    const client = createClient(EchoService, createGrpcTransport({ baseUrl: `http://${front.address}` }));
    await client.echo({}, { timeoutMs: 3000 });
    const seen = callee.timeouts[0];
    assert.ok(seen !== undefined && seen <= 3000 && seen > 1500, `callee saw ${String(seen)} ms`);
    // Without a deadline on the incoming call: the transport's default.
    reset();
    await client.echo({});
    const fallback = callee.timeouts[0];
    assert.ok(fallback !== undefined && fallback <= 7000 && fallback > 5000, `callee saw ${String(fallback)} ms`);
  });

  test("the incoming call's deadline bounds the outgoing call and its retries", async () => {
    reset();
    callee.alwaysFail = true;
    const client = createClient(EchoService, createGrpcTransport({ baseUrl: `http://${front.address}` }));
    const started = performance.now();
    // The front service answers its own error (the peer's is not passed through as it is).
    await assert.rejects(client.echo({}, { timeoutMs: 300 }));
    const took = performance.now() - started;
    // Retried (up to four attempts with up to 200 ms between) but never past the incoming deadline.
    assert.ok(took < 1000, `took ${took} ms`);
    assert.ok(callee.timeouts.every((t) => t !== undefined && t <= 300), callee.timeouts.join(","));
  });

  test("UNAVAILABLE: an idempotent method is retried, another is not", async () => {
    reset();
    const client = await peer("secrets-service", "key-service");
    callee.failNext = 2;
    await client.getSealStatus({}, { timeoutMs: 5000 });
    assert.equal(callee.statusCalls, 3);
    reset();
    callee.failNext = 1;
    const error = ConnectError.from(await client.seal({}, { timeoutMs: 5000 }).then(() => assert.fail("expected UNAVAILABLE"), (e: unknown) => e));
    assert.equal(error.code, Code.Unavailable);
    assert.equal(callee.sealCalls, 1);
  });

  test("retries stop at the attempt limit and never run past the deadline", async () => {
    reset();
    callee.alwaysFail = true;
    const client = await peer("secrets-service", "key-service");
    await assert.rejects(client.getSealStatus({}, { timeoutMs: 5000 }), (e: unknown) => ConnectError.from(e).code === Code.Unavailable);
    assert.equal(callee.statusCalls, 4);
    reset();
    callee.alwaysFail = true;
    const slow = createClient(
      SealService,
      createPeerTransport({
        address: sealServer.address,
        peerService: "key-service",
        tls: await loadPeerTls({ ...ca.services["secrets-service"], caFile: ca.caFile }),
        callingService: "secrets-service",
        retry: { maxAttempts: 100, initialBackoffMs: 100, maxBackoffMs: 100 },
        random: () => 1,
      }),
    );
    const started = performance.now();
    await assert.rejects(slow.getSealStatus({}, { timeoutMs: 350 }));
    const took = performance.now() - started;
    assert.ok(took < 1000, `took ${took} ms`);
    assert.ok(callee.statusCalls >= 2 && callee.statusCalls <= 4, `${callee.statusCalls} attempts`);
  });
});

describe("call scope", () => {
  test("work a handler leaves behind does not inherit the deadline of the call it served", async () => {
    const seen: (number | undefined)[] = [];
    let later: Promise<void> | undefined;
    const binding = bindService(EchoService, {
      async echo(_request, call) {
        seen.push(currentCall() === call ? call.timeoutMs() : -1);
        later = new Promise<void>((resolve) =>
          setTimeout(() => {
            seen.push(currentCall() === undefined ? undefined : -2);
            resolve();
          }, 50),
        );
        return {};
      },
    });
    const { server, address } = await start([binding], undefined);
    try {
      await createClient(EchoService, createGrpcTransport({ baseUrl: `http://${address}` })).echo({}, { timeoutMs: 3000 });
      await later;
      assert.equal(seen.length, 2);
      assert.ok(seen[0] !== undefined && seen[0] > 0 && seen[0] <= 3000, String(seen[0]));
      assert.equal(seen[1], undefined);
    } finally {
      await server.stop();
    }
  });
});
