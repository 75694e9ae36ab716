import assert from "node:assert/strict";
import { test } from "node:test";
import { blockOrder, measureAuditCost, type AuditSide } from "./audit-cost.ts";
import type { Ghz, GhzResult, GhzRun } from "./ghz.ts";
import { unshippedAuditEvents } from "./keyhold.ts";

test("unshipped audit events: the sum over every service's outbox gauge, other metrics ignored", () => {
  const exposition = [
    "# HELP keyhold_audit_outbox_unshipped Audit events committed to a service's outbox and not yet acknowledged by audit-service",
    "# TYPE keyhold_audit_outbox_unshipped gauge",
    'keyhold_audit_outbox_unshipped{service="key-service"} 120',
    'keyhold_audit_outbox_unshipped{service="policy-service"} 3',
    'keyhold_audit_outbox_lag{service="key-service"} 0.25',
    "keyhold_audit_outbox_unshipped_total 99",
  ].join("\n");
  assert.equal(unshippedAuditEvents(exposition), 123);
  assert.equal(unshippedAuditEvents("# nothing audited\n"), 0);
});

test("ABBA then BAAB; the audited process settles before every run; the ratio is sum over sum", async () => {
  assert.deepEqual(blockOrder(0), [true, false, false, true]);
  assert.deepEqual(blockOrder(1), [false, true, true, false]);
  const events: string[] = [];
  const on = { address: "on:1", call: "x.Y/Z", data: {}, metadata: {}, proto: undefined } as unknown as AuditSide;
  const off: AuditSide = { ...on, address: "off:1" };
  const ghz = {
    run: async (run: GhzRun): Promise<GhzResult> => {
      events.push(`run ${run.address}`);
      return { rps: run.address === "on:1" ? 900 : 1000, errorCalls: 0 } as unknown as GhzResult;
    },
  } as unknown as Ghz;
  let waits = 0;
  const cost = await measureAuditCost(ghz, on, off, {
    blocks: 2,
    concurrency: 50,
    load: { kind: "duration", seconds: 1 },
    progress: () => {},
    settle: async () => {
      events.push("settle");
      return ++waits * 10;
    },
  });
  assert.deepEqual(events.slice(0, 8), ["settle", "run on:1", "settle", "run off:1", "settle", "run off:1", "settle", "run on:1"]);
  assert.equal(events.filter((e) => e === "settle").length, 8);
  assert.equal(cost.ratio, 0.9);
  assert.deepEqual(cost.blockRange, [0.9, 0.9]);
  assert.equal(cost.longestSettleMs, 80);
});
