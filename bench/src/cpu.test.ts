// The whole machine's CPU time from /proc/stat.
import assert from "node:assert/strict";
import { test } from "node:test";
import { machineCpuTicks, parseMachineCpu } from "./cpu.ts";

test("busy is everything but idle and iowait", () => {
  const stat = "cpu  100 5 50 1000 20 3 2 10 0 0\ncpu0 50 2 25 500 10 1 1 5 0 0\nintr 1\n";
  assert.deepEqual(parseMachineCpu(stat), { busy: 170, total: 1190 });
});

test("no cpu line is an error", () => {
  assert.throws(() => parseMachineCpu("intr 1\n"), /no cpu line/);
});

test("this machine's counters read and grow", () => {
  const first = machineCpuTicks();
  assert.ok(first.total > 0 && first.busy <= first.total);
  assert.ok(machineCpuTicks().total >= first.total);
});
