// Client-side load balancing of the peer transport, through real gRPC over HTTP/2 with mutual TLS
// on loopback: two replicas of a peer on 127.0.0.1 and 127.0.0.2 (same port) behind one name (an
// injected resolver stands in for DNS). Calls alternate between them; when one stops, idempotent
// calls (the ones it was serving included) carry on on the other while a non-idempotent call cut
// under it fails as before; an address that disappears on re-resolution has its connection closed
// once its calls are over; the peer's SPIFFE identity is still checked on every address.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createNetServer, connect as netConnect, type Server as NetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, afterEach, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { SealService } from "@keyhold/proto";
import { bindService } from "./call.ts";
import { createDevCa, type DevCaResult } from "./dev-ca.ts";
import { fixedIdentity, identityInterceptor } from "./identity.ts";
import { createSilentLogger } from "./logger.ts";
import { createPeerTransport, loadPeerTls, type PeerTransport } from "./peer-transport.ts";
import { KeyholdServer } from "./server.ts";
import type { KeyholdServiceName } from "./service-identity.ts";

const principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:root", kind: "root", name: "root" } as const;
const NAME = "key-service.keyhold.test";

/** One replica: which calls reached it, and a gate its handlers wait on while `held`. */
interface Replica {
  readonly label: string;
  readonly server: KeyholdServer;
  statusCalls: number;
  sealCalls: number;
  held: boolean;
  /** Releases the calls waiting on the gate. */
  release: () => void;
  gate: Promise<void>;
  /** A new closed gate. */
  reset: () => void;
}

/** Which replica answered each call, in order. */
const answeredBy: string[] = [];

async function startReplica(label: string, host: string, port: number, ca: DevCaResult): Promise<{ replica: Replica; port: number }> {
  const replica = { label, statusCalls: 0, sealCalls: 0, held: false } as Replica;
  const newGate = () => {
    replica.gate = new Promise<void>((resolve) => {
      replica.release = resolve;
    });
  };
  newGate();
  replica.reset = () => {
    replica.release();
    replica.held = false;
    replica.statusCalls = 0;
    replica.sealCalls = 0;
    newGate();
  };
  const wait = async () => {
    if (replica.held) await replica.gate;
  };
  const binding = bindService(SealService, {
    async unseal() {
      return {};
    },
    async getSealStatus() {
      replica.statusCalls++;
      await wait();
      answeredBy.push(label);
      return { status: { sealable: false } };
    },
    async seal() {
      replica.sealCalls++;
      await wait();
      answeredBy.push(label);
      return {};
    },
  });
  const server = new KeyholdServer({
    bindings: [binding],
    interceptors: [identityInterceptor(fixedIdentity(principal))],
    logger: createSilentLogger(),
    grpc: { host, port },
    http: undefined,
    maxMessageBytes: 64 * 1024,
    corsOrigins: [],
    shutdownGraceMs: 300,
    callScope: true,
    // Both replicas present key-service's certificate.
    tls: { ...ca.services["key-service"], clientCaFile: ca.caFile, requireClientCert: false },
  });
  const bound = await server.start();
  Object.assign(replica, { server });
  return { replica, port: bound.grpcPort! };
}

/** A TCP relay from `host:port` to `target`, counting the connections open through it. */
async function startRelay(host: string, port: number, target: { host: string; port: number }) {
  const open = new Set<Socket>();
  const relay: NetServer = createNetServer((socket) => {
    open.add(socket);
    const upstream = netConnect(target);
    socket.pipe(upstream).pipe(socket);
    const end = () => {
      socket.destroy();
      upstream.destroy();
    };
    socket.on("error", end).on("close", () => {
      open.delete(socket);
      end();
    });
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve, reject) => relay.once("error", reject).listen({ host, port }, resolve));
  return {
    connections: () => open.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        relay.close(() => resolve());
      }),
  };
}

async function until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const failure = (promise: Promise<unknown>) => promise.then(() => assert.fail("expected a failure"), (error: unknown) => ConnectError.from(error));

describe("peer transport: one name, several replicas", () => {
  let dir: string;
  let ca: DevCaResult;
  let a: Replica;
  let b: Replica;
  let port: number;
  const transports: PeerTransport[] = [];

  /** A transport to NAME:port as secrets-service, NAME resolving to whatever `addresses()` says. */
  const connect = async (addresses: () => readonly string[], extra: { peerService?: KeyholdServiceName; refreshIntervalMs?: number; maxAttempts?: number } = {}) => {
    const transport = createPeerTransport({
      address: `${NAME}:${port}`,
      peerService: extra.peerService ?? "key-service",
      tls: await loadPeerTls({ ...ca.services["secrets-service"], caFile: ca.caFile }),
      callingService: "secrets-service",
      retry: { initialBackoffMs: 20, maxBackoffMs: 100, ...(extra.maxAttempts === undefined ? {} : { maxAttempts: extra.maxAttempts }) },
      balancing: {
        resolver: async (host) => {
          assert.equal(host, NAME);
          return addresses();
        },
        ...(extra.refreshIntervalMs === undefined ? {} : { refreshIntervalMs: extra.refreshIntervalMs }),
        initialBackoffMs: 2000,
      },
    });
    transports.push(transport);
    return createClient(SealService, transport);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "keyhold-peer-balancing-"));
    ca = createDevCa(join(dir, "ca"));
    const first = await startReplica("a", "127.0.0.1", 0, ca);
    port = first.port;
    a = first.replica;
    b = (await startReplica("b", "127.0.0.2", port, ca)).replica;
  });

  afterEach(() => {
    for (const transport of transports.splice(0)) transport.close();
    for (const replica of [a, b]) replica.reset();
    answeredBy.length = 0;
  });

  after(async () => {
    await a.server.stop();
    await b.server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("calls alternate between the addresses the name resolves to", async () => {
    const client = await connect(() => ["127.0.0.1", "127.0.0.2"]);
    for (let i = 0; i < 6; i++) await client.getSealStatus({}, { timeoutMs: 5000 });
    for (let i = 0; i < 4; i++) await client.seal({}, { timeoutMs: 5000 });
    assert.equal(a.statusCalls, 3);
    assert.equal(b.statusCalls, 3);
    assert.equal(a.sealCalls, 2);
    assert.equal(b.sealCalls, 2);
    for (let i = 1; i < answeredBy.length; i++) assert.notEqual(answeredBy[i], answeredBy[i - 1], answeredBy.join(","));
  });

  test("every address checks the peer's SPIFFE identity: a certificate that is not the expected service's is refused", async () => {
    const wrong = await connect(() => ["127.0.0.1", "127.0.0.2"], { peerService: "policy-service" });
    const error = await failure(wrong.getSealStatus({}, { timeoutMs: 5000 }));
    assert.ok([Code.Unavailable, Code.Internal].includes(error.code), Code[error.code]);
    assert.match(error.rawMessage, /not policy-service|policy-service/);
    assert.equal(a.statusCalls + b.statusCalls, 0);
  });

  test("an address gone from the name's resolution is closed once its calls are over", async () => {
    // 127.0.0.3 relays to b, so the connection to that address can be watched.
    const relay = await startRelay("127.0.0.3", port, { host: "127.0.0.2", port });
    try {
      let addresses = ["127.0.0.1", "127.0.0.3"];
      const client = await connect(() => addresses, { refreshIntervalMs: 100 });
      a.held = true;
      b.held = true;
      const inFlight = [client.getSealStatus({}, { timeoutMs: 5000 }), client.seal({}, { timeoutMs: 5000 })];
      await until(() => a.statusCalls + a.sealCalls === 1 && b.statusCalls + b.sealCalls === 1, "one call on each replica");
      assert.equal(relay.connections(), 1);
      addresses = ["127.0.0.1"];
      await sleep(300);
      // Re-resolved: new calls go to a only; the relayed connection stays while its call runs.
      a.held = false;
      for (let i = 0; i < 3; i++) await client.getSealStatus({}, { timeoutMs: 5000 });
      assert.equal(b.statusCalls + b.sealCalls, 1);
      assert.equal(relay.connections(), 1);
      a.release();
      b.release();
      await Promise.all(inFlight);
      await until(() => relay.connections() === 0, "the retired address's connection to close");
    } finally {
      await relay.close();
    }
  });

  test("an address that takes connections but never answers is skipped once a call gave up on it", async () => {
    // 127.0.0.4 accepts TCP connections and says nothing (a hung replica): the TLS handshake never ends.
    const held = new Set<Socket>();
    const silent = createNetServer((socket) => held.add(socket.on("error", () => {})));
    await new Promise<void>((resolve, reject) => silent.once("error", reject).listen({ host: "127.0.0.4", port }, resolve));
    try {
      const client = await connect(() => ["127.0.0.4", "127.0.0.1"]);
      const error = await failure(client.getSealStatus({}, { timeoutMs: 300 }));
      assert.equal(error.code, Code.DeadlineExceeded);
      assert.equal(held.size, 1);
      // Backing off: the next calls all go to a, at once.
      const started = performance.now();
      for (let i = 0; i < 4; i++) await client.getSealStatus({}, { timeoutMs: 5000 });
      assert.ok(performance.now() - started < 1000);
      assert.equal(a.statusCalls, 4);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test("a replica stopping: idempotent calls carry on on the other, a non-idempotent call cut under it fails", async () => {
    const client = await connect(() => ["127.0.0.1", "127.0.0.2"]);
    // Connections to both first.
    await client.getSealStatus({}, { timeoutMs: 5000 });
    await client.getSealStatus({}, { timeoutMs: 5000 });
    assert.equal(a.statusCalls + b.statusCalls, 2);
    a.statusCalls = 0;
    b.statusCalls = 0;
    // b holds its calls; round robin sends one of each method to each replica.
    b.held = true;
    const statuses = [client.getSealStatus({}, { timeoutMs: 8000 }), client.getSealStatus({}, { timeoutMs: 8000 })];
    const seals = Promise.allSettled([client.seal({}, { timeoutMs: 8000 }), client.seal({}, { timeoutMs: 8000 })]);
    // Settled (or failed) while b stops: observed below.
    for (const status of statuses) status.catch(() => {});
    await until(() => b.statusCalls === 1 && b.sealCalls === 1 && a.statusCalls === 1 && a.sealCalls === 1, "one call of each method on each replica");
    // b stops: its listener closes, and after the grace period its calls are cut.
    await b.server.stop();
    await Promise.all(statuses);
    const outcomes = await seals;
    assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 1, "the seal a served");
    const cut = outcomes.find((o) => o.status === "rejected");
    assert.ok(cut !== undefined && cut.status === "rejected");
    const code = ConnectError.from(cut.reason).code;
    assert.ok([Code.Canceled, Code.Unavailable, Code.Aborted, Code.Internal].includes(code), Code[code]);
    // Not retried: each replica saw exactly one seal.
    assert.equal(a.sealCalls, 1);
    assert.equal(b.sealCalls, 1);
    // The idempotent call b was serving was answered by a.
    assert.equal(a.statusCalls, 2);
    // From now on every idempotent call succeeds, on a.
    for (let i = 0; i < 6; i++) await client.getSealStatus({}, { timeoutMs: 5000 });
    assert.equal(a.statusCalls, 8);
  });
});
