import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { KeyMaterialCache } from "./material-cache.ts";

const material = (byte: number) => Buffer.alloc(32, byte);
const isZero = (buffer: Buffer) => buffer.every((byte) => byte === 0);

describe("KeyMaterialCache", () => {
  test("get returns what was set; unknown ids are undefined", async () => {
    const cache = new KeyMaterialCache(4);
    const a = material(1);
    cache.set("a", a);
    assert.equal(cache.get("a"), a);
    assert.equal(cache.get("b"), undefined);
    assert.equal(cache.size, 1);
  });

  test("evicts the least recently used entry and zeroes it", async () => {
    const cache = new KeyMaterialCache(2);
    const a = material(1);
    const b = material(2);
    const c = material(3);
    cache.set("a", a);
    cache.set("b", b);
    cache.get("a"); // a is now more recent than b
    cache.set("c", c);
    assert.equal(cache.size, 2);
    assert.equal(cache.get("b"), undefined);
    assert.ok(isZero(b), "evicted material is zeroed");
    assert.equal(cache.get("a"), a);
    assert.equal(cache.get("c"), c);
    assert.ok(!isZero(a) && !isZero(c));
  });

  test("evicts in insertion order when nothing is read", async () => {
    const cache = new KeyMaterialCache(3);
    const buffers = [1, 2, 3, 4, 5].map(material);
    buffers.forEach((buffer, i) => cache.set(`v${i}`, buffer));
    assert.equal(cache.size, 3);
    assert.deepEqual(buffers.map(isZero), [true, true, false, false, false]);
  });

  test("replacing an entry zeroes the old buffer; setting the same buffer again keeps it", async () => {
    const cache = new KeyMaterialCache(2);
    const old = material(1);
    const fresh = material(2);
    cache.set("a", old);
    cache.set("a", fresh);
    assert.ok(isZero(old));
    assert.equal(cache.get("a"), fresh);
    cache.set("a", fresh);
    assert.ok(!isZero(fresh));
    assert.equal(cache.size, 1);
  });

  test("replacing refreshes recency", async () => {
    const cache = new KeyMaterialCache(2);
    cache.set("a", material(1));
    cache.set("b", material(2));
    cache.set("a", material(3));
    cache.set("c", material(4));
    assert.equal(cache.get("b"), undefined);
    assert.ok(cache.get("a"));
  });

  test("delete zeroes; deleting an unknown id is a no-op", async () => {
    const cache = new KeyMaterialCache(2);
    const a = material(1);
    cache.set("a", a);
    cache.delete("a");
    cache.delete("missing");
    assert.ok(isZero(a));
    assert.equal(cache.get("a"), undefined);
    assert.equal(cache.size, 0);
  });

  test("clear zeroes everything", async () => {
    const cache = new KeyMaterialCache(5);
    const buffers = [1, 2, 3].map(material);
    buffers.forEach((buffer, i) => cache.set(`v${i}`, buffer));
    cache.clear();
    assert.equal(cache.size, 0);
    assert.ok(buffers.every(isZero));
  });

  test("maxEntries must be a positive integer", async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new KeyMaterialCache(bad), RangeError);
    }
    const one = new KeyMaterialCache(1);
    const a = material(1);
    one.set("a", a);
    one.set("b", material(2));
    assert.ok(isZero(a));
    assert.equal(one.size, 1);
  });
});
