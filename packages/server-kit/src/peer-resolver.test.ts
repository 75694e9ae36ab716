import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { dnsPeerResolver, parsePeerAddress } from "./peer-resolver.ts";

describe("peer addresses", () => {
  test("host:port, [v6]:port and IP literals split; anything else is refused", () => {
    assert.deepEqual(parsePeerAddress("key-service:7700"), { host: "key-service", port: 7700 });
    assert.deepEqual(parsePeerAddress("10.1.2.3:443"), { host: "10.1.2.3", port: 443 });
    assert.deepEqual(parsePeerAddress("[fd00::1]:7700"), { host: "fd00::1", port: 7700 });
    for (const bad of ["key-service", "key-service:", ":7700", "key-service:0", "key-service:65536", "fd00::1:7700", "a:b:7700"]) {
      assert.throws(() => parsePeerAddress(bad), /must be host:port/, bad);
    }
  });

  test("the DNS resolver: an IP literal is itself, a name is every address it has", async () => {
    const resolve = dnsPeerResolver();
    assert.deepEqual(await resolve("127.0.0.2"), ["127.0.0.2"]);
    assert.deepEqual(await resolve("::1"), ["::1"]);
    const local = await resolve("localhost");
    assert.ok(local.length >= 1 && local.every((address) => address === "::1" || address.startsWith("127.")), local.join(","));
    await assert.rejects(resolve("no-such-host.invalid"));
  });
});
