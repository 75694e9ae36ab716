// Horizontal scaling: `keyhold topology` (every service its own process, mTLS between them, a
// throwaway PostgreSQL and Redis) with k key-service processes behind ONE address (SO_REUSEPORT:
// the kernel spreads connections among them), against the same topology with one. Each topology
// is a child process with its own data directory; all of them are started up front and stay idle
// while another is measured. ghz sends Encrypt over TLS (trusting the topology's CA, server name
// key-service) on several connections, so the kernel has connections to spread; the runs go round
// by round, the order reversed each round (1, 2, 2, 1, 1, 2, …: ABBA for two topologies, as
// audit-cost.ts), so a drift in the machine's speed falls on every k alike. Around each run the
// CPU time of every process of the topology is read, to show whether the replicas shared the load
// and what else (audit-service, ghz, other work on the machine) took its cores.
// Every key-service replica runs in its own CPU budget (--replica-cores, a cgroup CPU quota as a
// Kubernetes CPU limit gives a pod), so k replicas have k budgets of CPU on a machine with fewer
// cores than a deployment would give them; the report says when that was not possible (then the
// replicas compete for the same cores uncapped).
// The launcher gives every service KEYHOLD_DATABASE_URL and KEYHOLD_REDIS_URL, so replicas that
// use them share their store as in a deployment; services that do not yet share the SQLite files
// of the topology's data directory.
import { chmod, mkdir, readdir, readFile, rm } from "node:fs/promises";
import { existsSync, readdirSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { TopologyAddresses } from "@keyhold/cli";
import { CryptoService, KeyService } from "@keyhold/proto";
import { formatCheckLine, scalingChecks, type Check } from "./checks.ts";
import type { Child, ChildSet } from "./children.ts";
import { describeLoad, onPath, type BenchConfig, type Load } from "./config.ts";
import { cpuTicks, measureCpu, measureMachineCpu, reapedChildrenCpuTicks } from "./cpu.ts";
import { createCpuQuota, type CpuQuota } from "./cpu-quota.ts";
import type { Ghz, GhzRun } from "./ghz.ts";
import { newApiKey } from "./keyhold.ts";
import { describeErrors } from "./measure.ts";
import { PLAINTEXT_BYTES } from "./targets.ts";

/** Calls in flight in every topology run (the same for every k). */
export const TOPOLOGY_CONCURRENCY = 64;
/** ghz connections per key-service replica of the largest topology: enough for the kernel to spread them. */
export const CONNECTIONS_PER_REPLICA = 4;
/** Rounds of a full run (each round runs every k once; two rounds are one ABBA block). */
export const TOPOLOGY_ROUNDS = 6;
/** Seconds of each measured run in a full run. */
export const TOPOLOGY_RUN_SECONDS = 5;
/** Discarded load on each topology before any is measured (a fresh process speeds up as V8 optimises). */
const FULL_WARMUP: Load = { kind: "duration", seconds: 3 };
/** --smoke: one short run per k, after a short warm-up. */
const SMOKE_ROUNDS = 1;
const SMOKE_LOAD: Load = { kind: "calls", calls: 640 };
const SMOKE_WARMUP: Load = { kind: "calls", calls: 128 };
/** The launcher stops every service (each drains for KEYHOLD_SHUTDOWN_GRACE_MS) and then the stores: give it time before SIGKILL. */
const LAUNCHER_STOP_GRACE_MS = 60_000;
const SERVICE_SHUTDOWN_GRACE_MS = 2_000;
const LOG_TAIL_LINES = 12;
const ENCRYPT_CALL = "keyhold.key.v1.CryptoService/Encrypt";
export const KEY_SERVICE = "key-service";

/** One measured ghz run against one topology. */
export interface ScalingRun {
  readonly replicas: number;
  /** 0-based round it ran in. */
  readonly round: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Calls completed (all successful: a failed call fails the measurement). */
  readonly calls: number;
  /** ghz's duration of the run. */
  readonly seconds: number;
  /** The time between the CPU readings around the run (ghz's start and exit included): what CPU seconds are divided by for busy cores. */
  readonly wallSeconds: number;
  /** CPU seconds each process of the topology used during the run, by process name (key-service-1 …, policy-service, …). */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  /** ghz's CPU seconds during the run: it shares the machine with the services. */
  readonly ghzCpuSeconds: number;
  /** The whole machine's busy CPU seconds during the run (all cores): with ghz's and the topology's, what else ran. */
  readonly machineCpuSeconds: number;
}

/** The runs of one k, taken together. */
export interface ScalingSide {
  readonly replicas: number;
  /** requests/s of each run, in the order they ran. */
  readonly rps: readonly number[];
  readonly meanRps: number;
  /** The median of the runs' p50 and p99 latencies. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU time per call of each process, µs (all runs' CPU over all runs' calls), by process name. */
  readonly cpuMicrosPerCall: Readonly<Record<string, number>>;
  /** Each key-service replica's part of the replicas' CPU time (key-service-1 first); sums to 1. */
  readonly replicaCpuShares: readonly number[];
  readonly ghzCpuMicrosPerCall: number;
  /** CPU seconds per second of the topology's processes and ghz together: how many cores the runs kept busy. */
  readonly busyCores: number;
  /** The whole machine's busy CPU seconds per second during the runs: above busyCores, other work shared the cores. */
  readonly machineBusyCores: number;
}

export interface ScalingRatio {
  readonly replicas: number;
  /** meanRps(k) / meanRps(1). */
  readonly ratio: number;
  /** The lowest and highest ratio of one round pair (ABBA block), when there are two rounds or more. */
  readonly blockRange: readonly [low: number, high: number] | undefined;
}

export interface TopologyScaling {
  readonly replicas: readonly number[];
  readonly concurrency: number;
  readonly connections: number;
  readonly rounds: number;
  readonly load: Load;
  readonly warmup: Load;
  readonly plaintextBytes: number;
  readonly cores: number;
  /** Each key-service replica's CPU budget in cores (undefined: uncapped, see uncappedBecause). */
  readonly replicaCores: number | undefined;
  /** Why the replicas ran without a CPU budget, when they did. */
  readonly uncappedBecause: string | undefined;
  readonly sides: readonly ScalingSide[];
  readonly ratios: readonly ScalingRatio[];
  readonly runs: readonly ScalingRun[];
  readonly checks: readonly Check[];
}

export type TopologyScalingOutcome =
  | { readonly status: "measured"; readonly result: TopologyScaling }
  | { readonly status: "SKIP" | "FAILED"; readonly replicas: readonly number[]; readonly reason: string; readonly checks: readonly Check[] };

export interface TopologyContext {
  readonly config: BenchConfig;
  readonly children: ChildSet;
  readonly ghz: Ghz;
  /** The benchmark's work directory: each topology's data directory goes under it. */
  readonly workDir: string;
  readonly ticksPerSecond: number;
  readonly cores: number;
  readonly progress: (message: string) => void;
}

/** The order of round `index`: the replica counts ascending, then descending, alternating. */
export function roundOrder(replicas: readonly number[], index: number): readonly number[] {
  return index % 2 === 0 ? [...replicas] : [...replicas].reverse();
}

/** ghz connections for every run: CONNECTIONS_PER_REPLICA per replica of the largest topology (the same for every k). */
export function connectionsFor(replicas: readonly number[]): number {
  return CONNECTIONS_PER_REPLICA * Math.max(...replicas);
}

/**
 * The launcher's environment: `keyhold topology` with `replicas` key-service processes, PostgreSQL
 * and Redis, on dataDir; every service audited unless `audit` is "off" (KEYHOLD_AUDIT=off).
 */
export function topologyEnv(
  base: Readonly<Record<string, string>>,
  options: { readonly dataDir: string; readonly replicas: number; readonly apiKey: string; readonly audit?: "on" | "off" },
): Record<string, string> {
  return {
    ...base,
    KEYHOLD_DATA_DIR: options.dataDir,
    KEYHOLD_TOPOLOGY_KEY_REPLICAS: String(options.replicas),
    KEYHOLD_TOPOLOGY_POSTGRES: "on",
    KEYHOLD_TOPOLOGY_REDIS: "on",
    // Clients reach key-service's own port, as a mesh would, not through the launcher.
    KEYHOLD_TOPOLOGY_GATEWAY: "off",
    KEYHOLD_LOG_LEVEL: "warn",
    KEYHOLD_SHUTDOWN_GRACE_MS: String(SERVICE_SHUTDOWN_GRACE_MS),
    KEYHOLD_BOOTSTRAP_API_KEY: options.apiKey,
    KEYHOLD_AUDIT: options.audit ?? "on",
  };
}

/** Aggregates the runs per k, and each k's requests/s over one replica's. */
export function summarizeScaling(runs: readonly ScalingRun[], replicas: readonly number[]): { sides: ScalingSide[]; ratios: ScalingRatio[] } {
  const sides = replicas.flatMap((k) => {
    const mine = runs.filter((run) => run.replicas === k);
    return mine.length === 0 ? [] : [side(k, mine)];
  });
  const base = sides.find((s) => s.replicas === 1);
  const ratios: ScalingRatio[] = [];
  if (base !== undefined && base.meanRps > 0) {
    for (const s of sides) {
      if (s.replicas === 1) continue;
      ratios.push({ replicas: s.replicas, ratio: s.meanRps / base.meanRps, blockRange: blockRange(runs, s.replicas) });
    }
  }
  return { sides, ratios };
}

function side(replicas: number, runs: readonly ScalingRun[]): ScalingSide {
  const calls = sum(runs.map((run) => run.calls));
  const seconds = sum(runs.map((run) => run.wallSeconds));
  const cpu: Record<string, number> = {};
  for (const run of runs) for (const [name, value] of Object.entries(run.cpuSeconds)) cpu[name] = (cpu[name] ?? 0) + value;
  const perCall = (cpuSeconds: number) => (calls > 0 ? (cpuSeconds * 1e6) / calls : Number.NaN);
  const replicaCpu = Array.from({ length: replicas }, (_, i) => cpu[`${KEY_SERVICE}-${i + 1}`] ?? 0);
  const replicaTotal = sum(replicaCpu);
  const ghzCpu = sum(runs.map((run) => run.ghzCpuSeconds));
  return {
    replicas,
    rps: runs.map((run) => run.rps),
    meanRps: sum(runs.map((run) => run.rps)) / runs.length,
    p50Ms: median(runs.map((run) => run.p50Ms)),
    p99Ms: median(runs.map((run) => run.p99Ms)),
    cpuMicrosPerCall: Object.fromEntries(Object.entries(cpu).map(([name, value]) => [name, perCall(value)])),
    replicaCpuShares: replicaCpu.map((value) => (replicaTotal > 0 ? value / replicaTotal : Number.NaN)),
    ghzCpuMicrosPerCall: perCall(ghzCpu),
    busyCores: seconds > 0 ? (sum(Object.values(cpu)) + ghzCpu) / seconds : Number.NaN,
    machineBusyCores: seconds > 0 ? sum(runs.map((run) => run.machineCpuSeconds)) / seconds : Number.NaN,
  };
}

/** The ratio of k over 1 in each pair of rounds (an ABBA block), lowest and highest; undefined with fewer than two rounds. */
function blockRange(runs: readonly ScalingRun[], replicas: number): readonly [number, number] | undefined {
  const rounds = Math.max(-1, ...runs.map((run) => run.round)) + 1;
  const ratios: number[] = [];
  for (let block = 0; block + 1 < rounds; block += 2) {
    const rps = (k: number) => sum(runs.filter((run) => run.replicas === k && (run.round === block || run.round === block + 1)).map((run) => run.rps));
    const one = rps(1);
    if (one > 0) ratios.push(rps(replicas) / one);
  }
  return ratios.length === 0 ? undefined : [Math.min(...ratios), Math.max(...ratios)];
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Why the topology cannot run here (PostgreSQL or redis-server missing), or undefined. */
export function missingStores(childEnv: Readonly<Record<string, string>>): string | undefined {
  const missing: string[] = [];
  const root = "/usr/lib/postgresql";
  const postgres = existsSync(root) && readdirSync(root).some((version) => existsSync(join(root, version, "bin", "initdb")));
  if (!postgres) missing.push("PostgreSQL (no /usr/lib/postgresql/<version>/bin/initdb; Debian/Ubuntu: apt-get install postgresql)");
  if (onPath("redis-server", childEnv["PATH"] ?? "") === undefined) missing.push("redis-server (Debian/Ubuntu: apt-get install redis-server)");
  return missing.length === 0 ? undefined : `not installed: ${missing.join(", ")}; the topology runs its services on a throwaway PostgreSQL and Redis`;
}

/** A started `keyhold topology` and the Encrypt ghz sends to its key-service address. */
export interface BenchTopology {
  readonly replicas: number;
  readonly child: Child;
  readonly addresses: TopologyAddresses;
  readonly encrypt: Omit<GhzRun, "concurrency" | "load">;
  stop(): Promise<void>;
}

export type TopologyStart = { readonly ok: true; readonly topology: BenchTopology } | { readonly ok: false; readonly reason: string };

export async function measureTopologyScaling(context: TopologyContext): Promise<TopologyScalingOutcome> {
  const { config, progress } = context;
  const replicas = config.topologyReplicas;
  const connections = connectionsFor(replicas);
  const notMeasured = (status: "SKIP" | "FAILED", reason: string): TopologyScalingOutcome => {
    progress(`topology scaling: ${status}: ${reason.split("\n")[0] ?? ""}`);
    return {
      status,
      replicas,
      reason,
      checks: scalingChecks(replicas.filter((k) => k > 1).map((k) => ({ replicas: k, ratio: undefined })), TOPOLOGY_CONCURRENCY, connections, cappedAt(config.topologyReplicaCores)),
    };
  };
  const cliMain = join(config.repoRoot, "packages", "cli", "src", "main.ts");
  if (!existsSync(cliMain)) return notMeasured("SKIP", "packages/cli/src/main.ts does not exist");
  const missing = missingStores(config.childEnv);
  if (missing !== undefined) return notMeasured("SKIP", missing);

  const rounds = config.smoke ? SMOKE_ROUNDS : TOPOLOGY_ROUNDS;
  const load = config.smoke ? SMOKE_LOAD : { kind: "duration" as const, seconds: TOPOLOGY_RUN_SECONDS };
  const warmup = config.smoke ? SMOKE_WARMUP : FULL_WARMUP;
  const root = join(context.workDir, "topology");
  await mkdir(root, { recursive: true });
  // As root, the launcher runs PostgreSQL as the postgres user, which must reach its directory
  // under this (mkdtemp: 0700) work directory: let others traverse it, not list it.
  if (userInfo().uid === 0) for (const dir of [context.workDir, root]) await chmod(dir, 0o711);

  progress(`topology scaling: starting keyhold topology with ${replicas.map((k) => `${k}`).join(", ")} key-service processes (PostgreSQL, Redis, mTLS)`);
  // Imported here, not at the top: @keyhold/cli loads every service, which only this mode needs.
  const { TOPOLOGY_LINE_PREFIX } = await import("@keyhold/cli");
  const starts = await Promise.all(replicas.map((k) => startBenchTopology(context, cliMain, TOPOLOGY_LINE_PREFIX, join(root, `key-service-x${k}`), k)));
  const topologies = starts.flatMap((start) => (start.ok ? [start.topology] : []));
  let budgets: ReplicaBudgets = { quotas: [], cores: undefined, uncappedBecause: "not applied" };
  try {
    const failures = starts.flatMap((start) => (start.ok ? [] : [start.reason]));
    if (failures.length > 0) return notMeasured("FAILED", failures.join("\n"));
    budgets = await budgetReplicas(topologies, config.topologyReplicaCores);
    progress(`topology scaling: key-service replicas ${budgets.cores === undefined ? budgets.uncappedBecause : `capped at ${budgets.cores} cores each`}`);
    const byReplicas = new Map(topologies.map((topology) => [topology.replicas, topology]));
    const at = (k: number) => byReplicas.get(k)!;

    for (const topology of topologies) {
      progress(`topology scaling: key-service ×${topology.replicas}: warming up`);
      const result = await context.ghz.run({ ...topology.encrypt, concurrency: TOPOLOGY_CONCURRENCY, connections, load: warmup });
      if (result.okCalls === 0) throw new Error(`key-service ×${topology.replicas}: every warm-up call failed: ${describeErrors(result)}`);
    }

    const runs: ScalingRun[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const k of roundOrder(replicas, round)) {
        const topology = at(k);
        progress(`topology scaling: round ${round + 1}/${rounds}, Encrypt against key-service ×${k}`);
        const processCpu = Object.entries(topology.addresses.pids).map(([name, pid]) => [name, measureCpu(() => cpuTicks(pid), context.ticksPerSecond)] as const);
        const ghzCpu = measureCpu(reapedChildrenCpuTicks, context.ticksPerSecond);
        const machineCpu = measureMachineCpu(context.ticksPerSecond);
        const startedAt = performance.now();
        const result = await context.ghz.run({ ...topology.encrypt, concurrency: TOPOLOGY_CONCURRENCY, connections, load });
        const cpuSeconds = Object.fromEntries(processCpu.map(([name, read]) => [name, read()]));
        const machineCpuSeconds = machineCpu();
        const wallSeconds = (performance.now() - startedAt) / 1000;
        if (result.errorCalls > 0) throw new Error(`key-service ×${k}: ${result.errorCalls} failed calls: ${describeErrors(result)}`);
        runs.push({ replicas: k, round, rps: result.rps, p50Ms: result.p50Ms, p99Ms: result.p99Ms, calls: result.calls, seconds: result.seconds, wallSeconds, cpuSeconds, ghzCpuSeconds: ghzCpu(), machineCpuSeconds });
      }
    }
    const { sides, ratios } = summarizeScaling(runs, replicas);
    return {
      status: "measured",
      result: {
        replicas,
        concurrency: TOPOLOGY_CONCURRENCY,
        connections,
        rounds,
        load,
        warmup,
        plaintextBytes: PLAINTEXT_BYTES,
        cores: context.cores,
        replicaCores: budgets.cores,
        uncappedBecause: budgets.uncappedBecause,
        sides,
        ratios,
        runs,
        checks: scalingChecks(
          replicas.filter((k) => k > 1).map((k) => ({ replicas: k, ratio: ratios.find((r) => r.replicas === k)?.ratio })),
          TOPOLOGY_CONCURRENCY,
          connections,
          budgets.cores,
        ),
      },
    };
  } catch (error) {
    return notMeasured("FAILED", error instanceof Error ? error.message : String(error));
  } finally {
    progress("topology scaling: stopping the topologies");
    await Promise.all(topologies.map((topology) => topology.stop()));
    await Promise.all(budgets.quotas.map((quota) => quota.release()));
  }
}

const cappedAt = (cores: number): number | undefined => (cores > 0 ? cores : undefined);

export interface ReplicaBudgets {
  readonly quotas: readonly CpuQuota[];
  /** The budget every replica got, or undefined when none did. */
  readonly cores: number | undefined;
  readonly uncappedBecause: string | undefined;
}

/**
 * Puts every key-service replica of every topology into its own CPU budget of `cores` (0: none).
 * All or nothing: when one cannot be capped, none is, and the reason is reported. `tag` keeps the
 * cgroups of different measurements' topologies with the same k apart.
 */
export async function budgetReplicas(topologies: readonly BenchTopology[], cores: number, tag = ""): Promise<ReplicaBudgets> {
  if (cores === 0) return { quotas: [], cores: undefined, uncappedBecause: "uncapped (--replica-cores 0)" };
  const quotas: CpuQuota[] = [];
  const giveUp = async (why: string): Promise<ReplicaBudgets> => {
    await Promise.all(quotas.map((quota) => quota.release()));
    return { quotas: [], cores: undefined, uncappedBecause: `uncapped: ${why}` };
  };
  for (const topology of topologies) {
    for (const [name, pid] of Object.entries(topology.addresses.pids)) {
      if (!name.startsWith(`${KEY_SERVICE}-`)) continue;
      const made = await createCpuQuota(`keyhold-bench-${process.pid}-${tag}x${topology.replicas}-${name}`, cores);
      if (!made.ok) return giveUp(made.reason);
      quotas.push(made.quota);
      try {
        await made.quota.add(pid);
      } catch (error) {
        return giveUp(`cannot move ${name} (pid ${pid}) into ${made.quota.path}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return { quotas, cores, uncappedBecause: undefined };
}

/**
 * Starts `node packages/cli/src/main.ts topology` with `replicas` key-service processes on dataDir
 * (removed on stop), audited unless `audit` is "off", waits for its KEYHOLD_TOPOLOGY line, and
 * creates a symmetric key through key-service over TLS. Not ok, with the launcher's last output
 * and its services' log tails, when it exits or times out first.
 */
export async function startBenchTopology(
  context: TopologyContext,
  cliMain: string,
  linePrefix: string,
  dataDir: string,
  replicas: number,
  audit: "on" | "off" = "on",
): Promise<TopologyStart> {
  const { config, children } = context;
  const apiKey = newApiKey();
  const name = `keyhold topology (key-service ×${replicas}${audit === "off" ? ", audit off" : ""})`;
  const child = children.spawnNode(name, [cliMain, "topology"], {
    cwd: config.repoRoot,
    env: topologyEnv(config.childEnv, { dataDir, replicas, apiKey, audit }),
    stopGraceMs: LAUNCHER_STOP_GRACE_MS,
  });
  const stop = async () => {
    await children.stop(child);
    await rm(dataDir, { recursive: true, force: true });
  };
  let addresses: TopologyAddresses;
  try {
    addresses = await awaitTopologyLine(child, linePrefix, config.topologyReadyTimeoutMs);
  } catch (error) {
    const logs = await logTails(join(dataDir, "logs"), child.output());
    await stop();
    const output = child.output();
    return {
      ok: false,
      reason: `${name}: ${error instanceof Error ? error.message : String(error)}${output === "" ? "" : `; its last output:\n${indent(output)}`}${logs}`,
    };
  }
  try {
    const address = addresses.services[KEY_SERVICE]?.grpc;
    if (address === undefined) throw new Error("its addresses name no key-service");
    const ca = await readFile(addresses.caFile);
    const metadata = { authorization: `Bearer ${apiKey}` };
    const withMetadata: Interceptor = (next) => (request) => {
      request.header.set("authorization", metadata.authorization);
      return next(request);
    };
    const transport = createGrpcTransport({ baseUrl: `https://${address}`, interceptors: [withMetadata], nodeOptions: { ca, servername: KEY_SERVICE } });
    const created = await createClient(KeyService, transport).createKey({ description: "bench: topology scaling" }, { timeoutMs: 30_000 });
    const keyId = created.keyMetadata?.keyId ?? "";
    if (keyId === "") throw new Error("CreateKey answered no key_metadata.key_id");
    const plaintext = new Uint8Array(PLAINTEXT_BYTES).fill(0x6b);
    const encrypted = await createClient(CryptoService, transport).encrypt({ keyId, plaintext }, { timeoutMs: 30_000 });
    if (encrypted.ciphertextBlob.length === 0) throw new Error("Encrypt answered an empty ciphertext_blob");
    return {
      ok: true,
      topology: {
        replicas,
        child,
        addresses,
        encrypt: {
          address,
          call: ENCRYPT_CALL,
          data: { key_id: keyId, plaintext: Buffer.from(plaintext).toString("base64") },
          metadata,
          proto: undefined,
          tls: { caFile: addresses.caFile, serverName: KEY_SERVICE },
        },
        stop,
      },
    };
  } catch (error) {
    const logs = await logTails(join(dataDir, "logs"), "");
    await stop();
    return { ok: false, reason: `${name}: preparing a key through key-service failed: ${error instanceof Error ? error.message : String(error)}${logs}` };
  }
}

/** The addresses `keyhold topology` prints on its KEYHOLD_TOPOLOGY line. */
function awaitTopologyLine(child: Child, linePrefix: string, timeoutMs: number): Promise<TopologyAddresses> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      cleanup();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail(`did not print its addresses within ${timeoutMs} ms`), timeoutMs);
    const onExit = () => fail(`exited before printing its addresses (${child.describeExit()})`);
    const unsubscribe = child.onStdoutLine((line) => {
      if (!line.startsWith(linePrefix)) return;
      cleanup();
      try {
        resolve(JSON.parse(line.slice(linePrefix.length)) as TopologyAddresses);
      } catch (error) {
        reject(new Error(`printed an unreadable ${linePrefix.trim()} line: ${error instanceof Error ? error.message : String(error)}`));
      }
    });
    const cleanup = () => {
      clearTimeout(timer);
      unsubscribe();
      child.process.off("exit", onExit);
    };
    child.process.once("exit", onExit);
  });
}

/**
 * The last lines of the services' logs: those the launcher's output names ("see …/logs/x.log"),
 * or, when it names none, every non-empty one. Empty when there are none.
 */
async function logTails(logsDir: string, launcherOutput: string): Promise<string> {
  let files: string[];
  try {
    files = (await readdir(logsDir)).filter((file) => file.endsWith(".log")).sort();
  } catch {
    return "";
  }
  const named = files.filter((file) => launcherOutput.includes(join(logsDir, file)));
  const parts: string[] = [];
  for (const file of named.length > 0 ? named : files) {
    const lines = (await readFile(join(logsDir, file), "utf8")).trimEnd().split("\n").filter((line) => line !== "");
    if (lines.length > 0) parts.push(`\n  ${file} (last lines):\n${indent(lines.slice(-LOG_TAIL_LINES).join("\n"))}`);
  }
  return parts.join("");
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}

/** Machine busy cores at or above this fraction of its cores with one replica: the machine, not key-service, was the limit. */
const SATURATED_FRACTION = 0.9;

/**
 * Notes on what bounded the runs, read off the CPU figures: the cores already busy with one
 * replica (the benchmark's own processes, or the whole machine with other work on it).
 */
function saturationNotes(r: TopologyScaling): string[] {
  const one = r.sides.find((s) => s.replicas === 1);
  if (one === undefined) return [];
  const notes: string[] = [];
  if (r.replicaCores === undefined && one.machineBusyCores >= SATURATED_FRACTION * r.cores) {
    notes.push(
      `  with one replica the machine's ${r.cores} cores were already ${Math.round((one.machineBusyCores / r.cores) * 100)}% busy ` +
        `(${one.busyCores.toFixed(2)} cores of it ghz and the topology): more replicas had no idle core to scale onto`,
    );
  }
  const others = Math.max(...r.sides.map((s) => s.machineBusyCores - s.busyCores));
  if (others >= 0.25 * r.cores) {
    notes.push(`  other work on the machine took up to ${others.toFixed(2)} cores during the runs (machine busy cores minus ghz and the topology): figures are rough`);
  }
  return notes;
}

/** The topology section of the report. */
export function formatTopologyReport(outcome: TopologyScalingOutcome): string {
  const checkLines = (checks: readonly Check[]) => checks.map(formatCheckLine);
  if (outcome.status !== "measured") {
    return [`Topology scaling (keyhold topology, key-service ×${outcome.replicas.join(" / ×")} behind one address): ${outcome.status} — ${outcome.reason}`, ...checkLines(outcome.checks)].join("\n");
  }
  const r = outcome.result;
  const whole = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—");
  const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "—");
  const others = [...new Set(r.sides.flatMap((s) => Object.keys(s.cpuMicrosPerCall)))].filter((name) => !name.startsWith(`${KEY_SERVICE}-`)).sort();
  const header = ["key-service ×k", "req/s (mean)", "runs req/s", "p50 ms", "p99 ms", "× k=1", "replicas' CPU share", "key-service CPU µs/call", ...others.map((name) => `${name} µs/call`), "ghz µs/call", "busy cores", "machine busy cores"];
  const body = r.sides.map((s) => {
    const replicaMicros = sum(Object.entries(s.cpuMicrosPerCall).filter(([name]) => name.startsWith(`${KEY_SERVICE}-`)).map(([, value]) => value));
    const ratio = s.replicas === 1 ? 1 : r.ratios.find((x) => x.replicas === s.replicas)?.ratio;
    return [
      String(s.replicas),
      whole(s.meanRps),
      s.rps.map(whole).join(", "),
      fixed(s.p50Ms, 1),
      fixed(s.p99Ms, 1),
      ratio === undefined ? "—" : `${ratio.toFixed(2)}×`,
      s.replicaCpuShares.map((share) => (Number.isFinite(share) ? `${Math.round(share * 100)}%` : "—")).join(" / "),
      fixed(replicaMicros, 0),
      ...others.map((name) => fixed(s.cpuMicrosPerCall[name] ?? Number.NaN, 0)),
      fixed(s.ghzCpuMicrosPerCall, 0),
      fixed(s.busyCores, 2),
      fixed(s.machineBusyCores, 2),
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => cells[column]!.length)));
  const render = (cells: readonly string[]) => "  " + cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  ");
  const lines = [
    `Topology scaling: keyhold topology (every service its own process, mTLS, PostgreSQL + Redis), key-service ×k on one address (SO_REUSEPORT); ` +
      `Encrypt ${r.plaintextBytes} B over TLS, ${r.connections} connections, ${r.concurrency} in flight, ${r.rounds} round${r.rounds === 1 ? "" : "s"} of ${describeLoad(r.load)} per k ` +
      `(order reversed each round) after ${describeLoad(r.warmup)} warm-up; ${r.cores} cores shared by ghz and every process of the topology; ` +
      (r.replicaCores === undefined
        ? `key-service replicas ${r.uncappedBecause ?? "uncapped"}`
        : `each key-service replica capped at ${r.replicaCores} cores (cgroup CPU quota, as a Kubernetes CPU limit)`),
    render(header),
    "  " + widths.map((w) => "─".repeat(w)).join("  "),
    ...body.map(render),
    ...r.ratios.map(
      (x) =>
        `  key-service ×${x.replicas} / ×1 req/s: ${x.ratio.toFixed(2)}×` +
        (x.blockRange === undefined ? "" : ` (ABBA blocks ${x.blockRange[0].toFixed(2)}–${x.blockRange[1].toFixed(2)})`),
    ),
    ...saturationNotes(r),
    ...checkLines(r.checks),
  ];
  return lines.join("\n");
}
