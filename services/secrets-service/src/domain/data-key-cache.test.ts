import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DataKeyCache } from "./data-key-cache.ts";

describe("DataKeyCache", () => {
  test("TTL, exact encrypted key match, LRU bound, zeroing copies", () => {
    let now = 0;
    const cache = new DataKeyCache(2, 1000, { now: () => new Date(now) });
    const blob = Buffer.from("blob");
    const key = Buffer.alloc(32, 7);
    cache.set("s", "v1", blob, key);
    key.fill(0);
    const copy = cache.get("s", "v1", blob)!;
    assert.equal(copy[0], 7, "a copy of what was given");
    copy.fill(0);
    assert.equal(cache.get("s", "v1", blob)![0], 7, "zeroing the copy leaves the entry");
    assert.equal(cache.get("s", "v1", Buffer.from("other")), undefined, "another encrypted key never matches");
    cache.set("s", "v1", blob, Buffer.alloc(32, 1));
    cache.set("s", "v2", blob, Buffer.alloc(32, 2));
    cache.set("s", "v3", blob, Buffer.alloc(32, 3));
    assert.equal(cache.get("s", "v1", blob), undefined, "least recently used went first");
    now = 999;
    assert.ok(cache.get("s", "v3", blob));
    now = 1000;
    assert.equal(cache.get("s", "v3", blob), undefined, "expired");
    const off = new DataKeyCache(10, 0, { now: () => new Date(0) });
    off.set("s", "v", blob, Buffer.alloc(32));
    assert.equal(off.get("s", "v", blob), undefined);
  });
});
