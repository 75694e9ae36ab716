import assert from "node:assert/strict";
import { test } from "node:test";
import { uuidV7Generator } from "./event-id.ts";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("UUIDv7: version 7, RFC 9562 variant, the millisecond time in the first 48 bits", () => {
  const at = Date.UTC(2026, 10, 29, 12, 0, 0, 123);
  const id = uuidV7Generator(() => at)();
  assert.match(id, UUID_V7);
  assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at);
});

test("ids from one generator increase, also within one millisecond and when the clock steps back", () => {
  let now = 1_700_000_000_000;
  const next = uuidV7Generator(() => now);
  const ids: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    if (i === 5000) now -= 50; // the clock steps back
    if (i % 3000 === 0) now += 1;
    ids.push(next());
  }
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} then ${ids[i]}`);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.match(id, UUID_V7);
});

test("the random part differs between generators", () => {
  const now = () => 1_700_000_000_000;
  const a = uuidV7Generator(now)();
  const b = uuidV7Generator(now)();
  assert.equal(a.slice(0, 18), b.slice(0, 18));
  assert.notEqual(a, b);
});
