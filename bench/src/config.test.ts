// --replicas: the k the topology mode compares.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_REPLICAS, parseReplicas, UsageError } from "./config.ts";

test("ascending, distinct, with the baseline 1 added", () => {
  assert.deepEqual(parseReplicas("1,2"), [1, 2]);
  assert.deepEqual(parseReplicas("4, 2"), [1, 2, 4]);
  assert.deepEqual(parseReplicas("2,2,1"), [1, 2]);
});

test("bad lists are usage errors naming --replicas", () => {
  for (const text of ["", "1", "0,2", "2,x", "1.5", `${MAX_REPLICAS + 1}`, "2,,3"]) {
    assert.throws(() => parseReplicas(text), (error: unknown) => error instanceof UsageError && error.message.startsWith("--replicas:"), text);
  }
});
