import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { clockTicksPerSecond, cpuTicks } from "./cpu.ts";
import { createCpuQuota, findCgroupRoot } from "./cpu-quota.ts";

test("a process in a CPU quota of 0.2 cores gets about that much CPU, however much it wants", async (t) => {
  const root = findCgroupRoot();
  if ("reason" in root) return t.skip(root.reason);
  const made = await createCpuQuota(`keyhold-bench-test-${process.pid}`, 0.2, root);
  if (!made.ok) return t.skip(made.reason);
  const spinner = spawn(process.execPath, ["-e", "const end = Date.now() + 20000; while (Date.now() < end) {}"], { stdio: "ignore" });
  try {
    await made.quota.add(spinner.pid!);
    await sleep(200);
    const ticks = clockTicksPerSecond();
    const before = cpuTicks(spinner.pid!);
    const started = performance.now();
    await sleep(2000);
    const cpuSeconds = (cpuTicks(spinner.pid!) - before) / ticks;
    const wallSeconds = (performance.now() - started) / 1000;
    // 0.2 cores for 2 s is 0.4 CPU seconds; an uncapped spinner takes up to a whole core (2 s).
    assert.ok(cpuSeconds > 0, "the spinner ran");
    assert.ok(cpuSeconds <= 0.2 * wallSeconds * 1.5 + 0.05, `the spinner used ${cpuSeconds.toFixed(2)} CPU seconds in ${wallSeconds.toFixed(2)} s`);
  } finally {
    spinner.kill("SIGKILL");
    await new Promise((resolve) => spinner.once("exit", resolve));
    await made.quota.release();
  }
  assert.equal(existsSync(made.quota.path), false, "release removes the group");
});

test("without a usable cpu controller there is no quota, and the reason says why", async () => {
  const base = mkdtempSync(join(tmpdir(), "keyhold-cgroup-"));
  try {
    assert.match(String((findCgroupRoot(base) as { reason: string }).reason), /no cgroup cpu controller/);
    writeFileSync(join(base, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    writeFileSync(join(base, "cgroup.subtree_control"), "memory pids\n");
    const root = findCgroupRoot(base);
    assert.match(String((root as { reason: string }).reason), /does not delegate the cpu controller/);
    const made = await createCpuQuota("x", 0.5, root);
    assert.equal(made.ok, false);
    // A v1 hierarchy that cannot be written to: creating the group fails with the path named.
    mkdirSync(join(base, "cpu"));
    writeFileSync(join(base, "cpu", "cpu.cfs_quota_us"), "-1\n");
    const v1 = findCgroupRoot(base);
    assert.deepEqual(v1, { version: 1, path: join(base, "cpu") });
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test("a quota needs a positive budget and a plain group name", async () => {
  await assert.rejects(createCpuQuota("ok", 0, { reason: "n/a" }), RangeError);
  await assert.rejects(createCpuQuota("ok", Number.NaN, { reason: "n/a" }), RangeError);
  await assert.rejects(createCpuQuota("../escape", 0.5, { reason: "n/a" }), RangeError);
});
