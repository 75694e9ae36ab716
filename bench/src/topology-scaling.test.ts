// The topology mode's pure parts: round order, the launcher's environment, the per-k figures and
// the ratio, and the scaling check.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SCALING_PER_REPLICA_MIN, scalingChecks } from "./checks.ts";
import { connectionsFor, formatTopologyReport, roundOrder, summarizeScaling, topologyEnv, type ScalingRun } from "./topology-scaling.ts";

function run(replicas: number, round: number, rps: number, cpuSeconds: Record<string, number>, ghzCpuSeconds = 1): ScalingRun {
  return { replicas, round, rps, p50Ms: 10, p99Ms: 20 + replicas, calls: rps * 2, seconds: 1.9, wallSeconds: 2, cpuSeconds, ghzCpuSeconds, machineCpuSeconds: 3.9 };
}

describe("roundOrder", () => {
  test("ascending, then descending: ABBA for two topologies", () => {
    const order = [0, 1, 2, 3].flatMap((round) => roundOrder([1, 2], round));
    assert.deepEqual(order, [1, 2, 2, 1, 1, 2, 2, 1]);
  });

  test("more than two k", () => {
    assert.deepEqual(roundOrder([1, 2, 4], 0), [1, 2, 4]);
    assert.deepEqual(roundOrder([1, 2, 4], 1), [4, 2, 1]);
  });

  test("does not reverse its argument", () => {
    const replicas = [1, 2];
    roundOrder(replicas, 1);
    assert.deepEqual(replicas, [1, 2]);
  });
});

test("connectionsFor: four per replica of the largest topology, the same for every k", () => {
  assert.equal(connectionsFor([1, 2]), 8);
  assert.equal(connectionsFor([1, 2, 4]), 16);
});

test("topologyEnv: replicas, stores on, own data dir and credential, over the inherited environment", () => {
  const env = topologyEnv(
    { PATH: "/bin", KEYHOLD_TOPOLOGY_KEY_REPLICAS: "9", KEYHOLD_TOPOLOGY_GATEWAY: "on", KEYHOLD_DATA_DIR: "/elsewhere" },
    { dataDir: "/tmp/w/topology/key-service-x2", replicas: 2, apiKey: "khk_x" },
  );
  assert.equal(env["PATH"], "/bin");
  assert.equal(env["KEYHOLD_DATA_DIR"], "/tmp/w/topology/key-service-x2");
  assert.equal(env["KEYHOLD_TOPOLOGY_KEY_REPLICAS"], "2");
  assert.equal(env["KEYHOLD_TOPOLOGY_POSTGRES"], "on");
  assert.equal(env["KEYHOLD_TOPOLOGY_REDIS"], "on");
  assert.equal(env["KEYHOLD_TOPOLOGY_GATEWAY"], "off");
  assert.equal(env["KEYHOLD_BOOTSTRAP_API_KEY"], "khk_x");
  assert.equal(env["KEYHOLD_LOG_LEVEL"], "warn");
  assert.equal(env["KEYHOLD_AUDIT"], "on");
});

describe("summarizeScaling", () => {
  const runs = [
    run(1, 0, 1000, { "key-service-1": 1.0, "audit-service": 0.2 }),
    run(2, 0, 1500, { "key-service-1": 0.9, "key-service-2": 0.6, "audit-service": 0.3 }),
    run(2, 1, 1700, { "key-service-1": 0.8, "key-service-2": 0.7, "audit-service": 0.3 }),
    run(1, 1, 1100, { "key-service-1": 1.1, "audit-service": 0.2 }),
  ];
  const { sides, ratios } = summarizeScaling(runs, [1, 2]);

  test("mean req/s per k, runs in the order they ran", () => {
    assert.deepEqual(
      sides.map((s) => [s.replicas, s.rps, s.meanRps]),
      [
        [1, [1000, 1100], 1050],
        [2, [1500, 1700], 1600],
      ],
    );
  });

  test("ratio of k over one replica, and the ABBA block's", () => {
    assert.equal(ratios.length, 1);
    assert.equal(ratios[0]!.replicas, 2);
    assert.ok(Math.abs(ratios[0]!.ratio - 1600 / 1050) < 1e-12);
    assert.deepEqual(ratios[0]!.blockRange, [3200 / 2100, 3200 / 2100]);
  });

  test("each replica's share of the replicas' CPU, CPU per call per process, busy cores", () => {
    const two = sides[1]!;
    assert.equal(two.replicaCpuShares.length, 2);
    assert.ok(Math.abs(two.replicaCpuShares[0]! - 1.7 / 3) < 1e-12);
    assert.ok(Math.abs(two.replicaCpuShares[1]! - 1.3 / 3) < 1e-12);
    // 6,400 calls: 1.7 s of key-service-1 → 265.625 µs per call.
    assert.ok(Math.abs(two.cpuMicrosPerCall["key-service-1"]! - (1.7e6 / 6400)) < 1e-9);
    assert.ok(Math.abs(two.ghzCpuMicrosPerCall - 2e6 / 6400) < 1e-9);
    // (1.7 + 1.3 + 0.6 + 2 ghz) CPU seconds over 4 s of runs.
    assert.ok(Math.abs(two.busyCores - 5.6 / 4) < 1e-9);
    assert.ok(Math.abs(two.machineBusyCores - 7.8 / 4) < 1e-9);
    assert.deepEqual(sides[0]!.replicaCpuShares, [1]);
  });

  test("a k with no runs, or no baseline, gives no ratio", () => {
    assert.deepEqual(summarizeScaling([run(2, 0, 10, {})], [1, 2]).ratios, []);
    assert.deepEqual(summarizeScaling([], [1, 2]), { sides: [], ratios: [] });
  });

  test("one round: no block range", () => {
    assert.equal(summarizeScaling(runs.filter((r) => r.round === 0), [1, 2]).ratios[0]!.blockRange, undefined);
  });

  /** The report of the runs above, each replica with `replicaCores` of CPU (undefined: uncapped). */
  const report = (replicaCores: number | undefined, uncappedBecause?: string) =>
    formatTopologyReport({
      status: "measured",
      result: {
        replicas: [1, 2],
        concurrency: 64,
        connections: 8,
        rounds: 2,
        load: { kind: "duration", seconds: 5 },
        warmup: { kind: "duration", seconds: 3 },
        plaintextBytes: 1024,
        cores: 2,
        replicaCores,
        uncappedBecause,
        sides,
        ratios,
        runs,
        checks: scalingChecks([{ replicas: 2, ratio: ratios[0]!.ratio }], 64, 8, replicaCores),
      },
    });

  test("the report names cores, the ratio and the check", () => {
    const text = report(undefined, "uncapped: no cgroup cpu controller under /sys/fs/cgroup");
    assert.match(text, /2 cores shared by ghz/);
    assert.match(text, /key-service replicas uncapped: no cgroup cpu controller/);
    assert.match(text, /key-service ×2 \/ ×1 req\/s: 1\.52×/);
    assert.match(text, /PASS {2}key-service ×2 behind one address ≥ 0\.7·2 = 1\.40× one replica's Encrypt req\/s \(uncapped, .*: 1\.52×/);
    assert.match(text, /57% \/ 43%/);
    // 1.95 of 2 cores busy with one replica.
    assert.match(text, /with one replica the machine's 2 cores were already 98% busy/);
  });

  test("with a CPU budget per replica the report and the check name it", () => {
    const text = report(0.35);
    assert.match(text, /each key-service replica capped at 0\.35 cores \(cgroup CPU quota/);
    assert.match(text, /PASS {2}key-service ×2 behind one address ≥ 0\.7·2 = 1\.40× one replica's Encrypt req\/s \(each replica 0\.35 cores, /);
    // A saturated machine is no excuse when every replica had its own budget.
    assert.doesNotMatch(text, /had no idle core to scale onto/);
  });
});

describe("scalingChecks", () => {
  test(`PASS at ${SCALING_PER_REPLICA_MIN}·k or more, MISS below, SKIP unmeasured`, () => {
    const checks = scalingChecks(
      [
        { replicas: 2, ratio: 1.4 },
        { replicas: 3, ratio: 2.0 },
        { replicas: 4, ratio: undefined },
      ],
      64,
      16,
    );
    assert.deepEqual(
      checks.map((c) => [c.status, c.limit, c.value]),
      [
        ["PASS", SCALING_PER_REPLICA_MIN * 2, 1.4],
        ["MISS", SCALING_PER_REPLICA_MIN * 3, 2.0],
        ["SKIP", SCALING_PER_REPLICA_MIN * 4, undefined],
      ],
    );
    assert.match(checks[0]!.name, /16 connections, 64 in flight/);
  });

  test("not measured: the outcome still lists the checks as SKIP", () => {
    const text = formatTopologyReport({ status: "SKIP", replicas: [1, 2], reason: "not installed: redis-server", checks: scalingChecks([{ replicas: 2, ratio: undefined }], 64, 8) });
    assert.match(text, /SKIP — not installed: redis-server/);
    assert.match(text, /SKIP {2}key-service ×2 .*\(not measured\)/);
  });
});
