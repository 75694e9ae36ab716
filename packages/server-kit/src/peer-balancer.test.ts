// The balancer on its own: round robin, retries preferring untried addresses, backoff of failing
// addresses, re-resolution (added, removed, failed), retired connections closed after their calls.
// Connections are plain records of what was asked of them; a test clock drives the backoff.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { PeerBalancer, type PeerBalancerOptions } from "./peer-balancer.ts";

function setup(initial: readonly string[], extra: Partial<PeerBalancerOptions> = {}) {
  let addresses: readonly string[] | Error = initial;
  let clock = 1000;
  let resolutions = 0;
  const opened: string[] = [];
  const closed: string[] = [];
  const connecting = new Set<string>();
  const balancer = new PeerBalancer({
    host: "key-service",
    peerService: "key-service",
    resolver: async () => {
      resolutions++;
      if (addresses instanceof Error) throw addresses;
      return addresses;
    },
    connect: (address) => {
      opened.push(address);
      return { transport: createRouterTransport(() => {}), close: () => closed.push(address), connecting: () => connecting.has(address) };
    },
    initialBackoffMs: 1000,
    maxBackoffMs: 8000,
    minRefreshIntervalMs: 0,
    random: () => 0.5,
    now: () => clock,
    ...extra,
  });
  return {
    balancer,
    opened,
    closed,
    connecting,
    resolutions: () => resolutions,
    set: (next: readonly string[] | Error) => {
      addresses = next;
    },
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

/** Picks `count` times, releasing each as answered; the addresses picked. */
function picks(balancer: PeerBalancer, count: number): string[] {
  const seen: string[] = [];
  for (let i = 0; i < count; i++) {
    const endpoint = balancer.pick();
    seen.push(endpoint.address);
    balancer.release(endpoint, "answered");
  }
  return seen;
}

describe("PeerBalancer", () => {
  test("round robin over the resolved addresses, duplicates once; one connection per address", async () => {
    const t = setup(["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"]);
    await t.balancer.ready();
    assert.deepEqual(t.balancer.addresses(), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert.deepEqual(picks(t.balancer, 6), ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert.deepEqual(t.opened, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    t.balancer.close();
  });

  test("a retry prefers an address the call has not tried", async () => {
    const t = setup(["10.0.0.1", "10.0.0.2"]);
    await t.balancer.ready();
    const first = t.balancer.pick();
    // Another call takes the next turn meanwhile.
    t.balancer.release(t.balancer.pick(), "answered");
    t.balancer.release(first, "unknown");
    const retry = t.balancer.pick(new Set([first.address]));
    assert.notEqual(retry.address, first.address);
    t.balancer.release(retry, "answered");
    // With every address tried, any will do.
    const again = t.balancer.pick(new Set(["10.0.0.1", "10.0.0.2"]));
    assert.ok(["10.0.0.1", "10.0.0.2"].includes(again.address));
    t.balancer.release(again, "answered");
    t.balancer.close();
  });

  test("an address still connecting is passed over while another has its connection", async () => {
    const t = setup(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    await t.balancer.ready();
    t.connecting.add("10.0.0.2");
    assert.deepEqual(picks(t.balancer, 4), ["10.0.0.1", "10.0.0.3", "10.0.0.1", "10.0.0.3"]);
    // Everything connecting: round robin again.
    t.connecting.add("10.0.0.1").add("10.0.0.3");
    assert.deepEqual(picks(t.balancer, 3), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    t.balancer.close();
  });

  test("an address whose connection failed is skipped for a backoff that doubles, and used again after it", async () => {
    const t = setup(["10.0.0.1", "10.0.0.2"]);
    await t.balancer.ready();
    const failing = t.balancer.pick();
    assert.equal(failing.address, "10.0.0.1");
    t.balancer.release(failing, "connection-failed");
    assert.deepEqual(picks(t.balancer, 3), ["10.0.0.2", "10.0.0.2", "10.0.0.2"]);
    t.advance(1001);
    const retried = t.balancer.pick();
    assert.equal(retried.address, "10.0.0.1");
    t.balancer.release(retried, "connection-failed");
    // Second failure: 2 s.
    t.advance(1500);
    assert.deepEqual(picks(t.balancer, 2), ["10.0.0.2", "10.0.0.2"]);
    t.advance(600);
    const back = t.balancer.pick();
    assert.equal(back.address, "10.0.0.1");
    // It answered: healthy again, the turn resumes.
    t.balancer.release(back, "answered");
    assert.deepEqual(picks(t.balancer, 2), ["10.0.0.2", "10.0.0.1"]);
    t.balancer.close();
  });

  test("when every address is backing off, the one whose backoff ends first is tried", async () => {
    const t = setup(["10.0.0.1", "10.0.0.2"]);
    await t.balancer.ready();
    const one = t.balancer.pick();
    t.balancer.release(one, "connection-failed");
    t.advance(100);
    const two = t.balancer.pick();
    assert.equal(two.address, "10.0.0.2");
    t.balancer.release(two, "connection-failed");
    assert.equal(t.balancer.pick().address, "10.0.0.1");
    t.balancer.close();
  });

  test("re-resolution: new addresses join, a gone one is closed at once when idle or after its last call", async () => {
    const t = setup(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    await t.balancer.ready();
    const busy = t.balancer.pick();
    assert.equal(busy.address, "10.0.0.1");
    t.set(["10.0.0.3", "10.0.0.4"]);
    await t.balancer.refresh();
    assert.deepEqual(t.balancer.addresses(), ["10.0.0.3", "10.0.0.4"]);
    // 10.0.0.2 had no call: closed now; 10.0.0.1 still carries one.
    assert.deepEqual(t.closed, ["10.0.0.2"]);
    for (const address of picks(t.balancer, 4)) assert.ok(["10.0.0.3", "10.0.0.4"].includes(address), address);
    t.balancer.release(busy, "answered");
    assert.deepEqual(t.closed, ["10.0.0.2", "10.0.0.1"]);
    // 10.0.0.3 kept its connection.
    assert.deepEqual(t.opened, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    t.balancer.close();
    assert.deepEqual(t.closed.toSorted(), ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
  });

  test("a failed re-resolution keeps the last addresses; a failed first one is UNAVAILABLE", async () => {
    const t = setup(["10.0.0.1"]);
    await t.balancer.ready();
    t.set(Object.assign(new Error("queryA ENOTFOUND key-service"), { code: "ENOTFOUND" }));
    await t.balancer.refresh();
    assert.deepEqual(t.balancer.addresses(), ["10.0.0.1"]);
    t.set([]);
    await t.balancer.refresh();
    assert.deepEqual(t.balancer.addresses(), ["10.0.0.1"]);
    t.balancer.close();

    const none = setup([]);
    const error = ConnectError.from(await none.balancer.ready().then(() => assert.fail("expected UNAVAILABLE"), (e: unknown) => e));
    assert.equal(error.code, Code.Unavailable);
    assert.match(error.rawMessage, /key-service/);
    // The next call tries again.
    none.set(["10.0.0.9"]);
    await none.balancer.ready();
    assert.deepEqual(none.balancer.addresses(), ["10.0.0.9"]);
    none.balancer.close();
  });

  test("a connection failure resolves the name again", async () => {
    const t = setup(["10.0.0.1", "10.0.0.2"]);
    await t.balancer.ready();
    assert.equal(t.resolutions(), 1);
    t.set(["10.0.0.2"]);
    t.balancer.release(t.balancer.pick(), "connection-failed");
    assert.equal(t.resolutions(), 2);
    // (joins the resolution the failure started)
    await t.balancer.refresh();
    assert.equal(t.resolutions(), 2);
    assert.deepEqual(t.balancer.addresses(), ["10.0.0.2"]);
    assert.deepEqual(t.closed, ["10.0.0.1"]);
    t.balancer.close();
  });

  test("the name is resolved again periodically while in use", async () => {
    const t = setup(["10.0.0.1"], { refreshIntervalMs: 20 });
    await t.balancer.ready();
    t.set(["10.0.0.2"]);
    const end = performance.now() + 2000;
    while (t.balancer.addresses()[0] !== "10.0.0.2" && performance.now() < end) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(t.balancer.addresses(), ["10.0.0.2"]);
    t.balancer.close();
    await assert.rejects(t.balancer.ready(), (e: unknown) => ConnectError.from(e).code === Code.Unavailable);
  });
});
