// --replicas: the k the topology mode compares; --replica-cores: each replica's CPU budget.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_REPLICA_CORES, MAX_REPLICAS, parseReplicaCores, parseReplicas, UsageError } from "./config.ts";

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

test("--replica-cores: a number of cores, 0 for uncapped, the default when absent", () => {
  assert.equal(parseReplicaCores(undefined), DEFAULT_REPLICA_CORES);
  assert.equal(parseReplicaCores("0.5"), 0.5);
  assert.equal(parseReplicaCores("0"), 0);
  for (const text of ["", "-1", "x", "65", "Infinity"]) {
    assert.throws(() => parseReplicaCores(text), (error: unknown) => error instanceof UsageError && error.message.startsWith("--replica-cores:"), text);
  }
});
