// The benchmark's settings: the only reader of process.env and the command line.
import { accessSync, constants } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** How much load one ghz run applies: a fixed number of calls, or a fixed time. */
export type Load = { readonly kind: "calls"; readonly calls: number } | { readonly kind: "duration"; readonly seconds: number };

/** "640 calls" or "3 s". */
export function describeLoad(load: Load): string {
  return load.kind === "calls" ? `${load.calls} calls` : `${load.seconds} s`;
}

export interface BenchConfig {
  readonly repoRoot: string;
  /** Every server listens here, and nowhere else. */
  readonly host: "127.0.0.1";
  /** Calls in flight for each measured run, in order; the first is the throughput figure. */
  readonly concurrencies: readonly [throughput: number, latency: number];
  readonly load: Load;
  /** Discarded load applied to each target of a server before any of them is measured. */
  readonly warmup: Load;
  readonly smoke: boolean;
  /** Exit non-zero when a target is missed or a call fails. */
  readonly strict: boolean;
  readonly ghzPath: string;
  readonly resultsDir: string;
  /** How long a server child may take to announce its port or become healthy. */
  readonly serverStartTimeoutMs: number;
  /** How long the all-in-one Keyhold process may take to answer /healthz with 200. */
  readonly keyholdReadyTimeoutMs: number;
  /** --topology: measure only the topology mode (key-service replicas behind one address). */
  readonly topologyOnly: boolean;
  /** key-service replica counts the topology mode compares (--replicas; always holds 1, the baseline), ascending. */
  readonly topologyReplicas: readonly number[];
  /**
   * The CPU budget of each key-service replica in the topology mode, in cores (a cgroup CPU quota,
   * like a Kubernetes CPU limit); 0: uncapped. With few cores, uncapped replicas share the cores
   * ghz and the rest of the topology already fill, and the mode cannot show scaling.
   */
  readonly topologyReplicaCores: number;
  /** How long `keyhold topology` may take to print its addresses (it starts every service as a process). */
  readonly topologyReadyTimeoutMs: number;
  /** The environment children start from (the benchmark adds its own KEYHOLD_* settings). */
  readonly childEnv: Readonly<Record<string, string>>;
}

/** The most key-service replicas the topology mode starts (KEYHOLD_TOPOLOGY_KEY_REPLICAS allows 16). */
export const MAX_REPLICAS = 16;
/**
 * Each key-service replica's CPU budget in the topology mode unless --replica-cores says otherwise:
 * small enough that two replicas, ghz and the rest of the topology fit on two cores.
 */
export const DEFAULT_REPLICA_CORES = 0.35;

export const USAGE = `usage: pnpm bench [--smoke] [--duration <seconds>] [--calls <n>] [--strict] [--topology] [--replicas <k,k,…>]

  --smoke            tiny counts (CI): 300 calls per target and concurrency, all targets
  --duration <s>     seconds of load per measured run (default 6)
  --calls <n>        a fixed number of calls per measured run instead of a duration
  --strict           exit 1 when a target is missed or skipped, or any call fails
  --topology         only the topology mode: \`keyhold topology\` with k key-service processes behind
                     one address, Encrypt req/s against k = 1 in interleaved rounds (the full run
                     includes it; --duration and --calls do not change its runs; --smoke: one short run per k)
  --replicas <list>  the k the topology mode compares, comma-separated, 1 to ${MAX_REPLICAS} (default 1,2; 1 is always measured)
  --replica-cores <n>  CPU budget of each key-service replica in the topology mode, in cores (a cgroup
                     CPU quota, like a Kubernetes CPU limit; default ${DEFAULT_REPLICA_CORES}); 0: uncapped
`;

/** The command line is wrong: the message says how. */
export class UsageError extends Error {}
/** --help: print USAGE and stop. */
export class HelpRequested extends Error {}

export function loadConfig(argv: readonly string[]): BenchConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        smoke: { type: "boolean", default: false },
        strict: { type: "boolean", default: false },
        duration: { type: "string" },
        calls: { type: "string" },
        topology: { type: "boolean", default: false },
        replicas: { type: "string" },
        "replica-cores": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    // ERR_PARSE_ARGS_UNKNOWN_OPTION and friends.
    throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  }
  if (values.help) throw new HelpRequested(USAGE);
  if (values.duration !== undefined && values.calls !== undefined) {
    throw new UsageError("--duration and --calls are exclusive\n\n" + USAGE);
  }

  const smoke = values.smoke;
  let load: Load = smoke ? { kind: "calls", calls: 300 } : { kind: "duration", seconds: 6 };
  if (values.duration !== undefined) load = { kind: "duration", seconds: positiveNumber("--duration", values.duration.replace(/s$/, "")) };
  if (values.calls !== undefined) load = { kind: "calls", calls: Math.round(positiveNumber("--calls", values.calls)) };
  const warmup: Load = smoke ? { kind: "calls", calls: 50 } : { kind: "duration", seconds: 2 };

  const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
  const childEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) childEnv[name] = value;

  return {
    repoRoot,
    host: "127.0.0.1",
    concurrencies: [50, 1],
    load,
    warmup,
    smoke,
    strict: values.strict,
    ghzPath: findOnPath("ghz", childEnv["PATH"] ?? ""),
    resultsDir: join(repoRoot, "bench", "results"),
    serverStartTimeoutMs: 15_000,
    keyholdReadyTimeoutMs: 30_000,
    topologyOnly: values.topology,
    topologyReplicas: parseReplicas(values.replicas ?? "1,2"),
    topologyReplicaCores: parseReplicaCores(values["replica-cores"]),
    topologyReadyTimeoutMs: 240_000,
    childEnv,
  };
}

/** --replica-cores: a number of cores from 0 (uncapped) to 64; DEFAULT_REPLICA_CORES when absent. */
export function parseReplicaCores(text: string | undefined): number {
  if (text === undefined) return DEFAULT_REPLICA_CORES;
  const value = Number(text.trim());
  if (text.trim() === "" || !Number.isFinite(value) || value < 0 || value > 64) {
    throw new UsageError(`--replica-cores: expected a number of cores from 0 (uncapped) to 64, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** "1,2,4" → [1, 2, 4]: distinct whole numbers from 1 to MAX_REPLICAS, ascending, with 1 (the baseline) added when missing. */
export function parseReplicas(text: string): number[] {
  const values = new Set<number>([1]);
  for (const part of text.split(",")) {
    const value = Number(part.trim());
    if (part.trim() === "" || !Number.isInteger(value) || value < 1 || value > MAX_REPLICAS) {
      throw new UsageError(`--replicas: expected whole numbers from 1 to ${MAX_REPLICAS}, comma-separated, got ${JSON.stringify(text)}`);
    }
    values.add(value);
  }
  if (values.size < 2) throw new UsageError(`--replicas: name at least one k above 1 to compare with one replica, got ${JSON.stringify(text)}`);
  return [...values].sort((a, b) => a - b);
}

function positiveNumber(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`${flag}: expected a positive number, got ${JSON.stringify(text)}`);
  return value;
}

/** The executable `command` in the first directory of `path` that has one, or undefined. */
export function onPath(command: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function findOnPath(command: string, path: string): string {
  const found = onPath(command, path);
  if (found !== undefined) return found;
  throw new UsageError(`${command} not found on PATH: run through \`pnpm bench\` (scripts/bench.sh puts .tools/bin on PATH)`);
}
