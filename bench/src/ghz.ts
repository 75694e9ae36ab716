// Runs ghz (pinned, built into .tools/bin by scripts/lib/toolchain.sh) and reads its JSON report.
import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Load } from "./config.ts";

/** Where ghz finds the method's schema when the server does not serve reflection. */
export interface ProtoSource {
  readonly file: string;
  readonly importPath: string;
}

export interface GhzRun {
  /** host:port, loopback. */
  readonly address: string;
  /** "package.Service/Method" */
  readonly call: string;
  /** The request as protobuf JSON. */
  readonly data: unknown;
  /** Metadata every call carries (e.g. authorization); empty: none. */
  readonly metadata: Readonly<Record<string, string>>;
  /** undefined: ghz asks the server (gRPC server reflection). */
  readonly proto: ProtoSource | undefined;
  readonly concurrency: number;
  readonly load: Load;
  /** HTTP/2 connections the calls are spread over (ghz --connections); undefined: 1. */
  readonly connections?: number;
  /** undefined: plaintext (ghz --insecure, h2c). */
  readonly tls?: GhzTls;
}

/** A TLS server: the CA its certificate chains to, and the name the certificate is checked for. */
export interface GhzTls {
  readonly caFile: string;
  readonly serverName: string;
}

export interface GhzResult {
  /** Calls that completed, successful or not. */
  readonly calls: number;
  readonly okCalls: number;
  readonly errorCalls: number;
  /** Error message → count. */
  readonly errors: Readonly<Record<string, number>>;
  /** gRPC status name → count. */
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly seconds: number;
  /** Successful calls per second. */
  readonly rps: number;
  /** Latencies of successful calls, milliseconds. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  /** ghz's "normal" (all calls made) or "timeout" (duration reached). */
  readonly endReason: string;
}

/** The parts of ghz's --format json report the benchmark reads (latencies in nanoseconds). */
interface GhzReport {
  readonly endReason: string;
  readonly count: number;
  readonly total: number;
  readonly average: number;
  readonly errorDistribution?: Record<string, number> | null;
  readonly statusCodeDistribution?: Record<string, number> | null;
  readonly latencyDistribution?: readonly { readonly percentage: number; readonly latency: number }[] | null;
}

const NANOS_PER_MS = 1e6;
const PROCESS_SLACK_MS = 120_000;

export class Ghz {
  readonly path: string;
  private readonly workDir: string;
  private readonly signal: AbortSignal;
  private runs = 0;

  /** workDir: a scratch directory for ghz's reports; signal: kills a running ghz when aborted. */
  constructor(path: string, workDir: string, signal: AbortSignal) {
    this.path = path;
    this.workDir = workDir;
    this.signal = signal;
  }

  async run(run: GhzRun): Promise<GhzResult> {
    const output = join(this.workDir, `ghz-${++this.runs}.json`);
    const args = ghzArgs(run, output);

    await this.exec(args, run.load.kind === "duration" ? run.load.seconds * 1000 + PROCESS_SLACK_MS : 10 * PROCESS_SLACK_MS);
    try {
      return toResult(JSON.parse(await readFile(output, "utf8")) as GhzReport);
    } finally {
      await rm(output, { force: true });
    }
  }

  /** ghz's version: its own flag, or (for a `go install` build, which says "dev") its Go build info. */
  async version(): Promise<string> {
    // kingpin prints the version on stderr.
    const flag = (await this.exec(["--version"], 10_000, { withStderr: true })).trim();
    if (flag !== "" && flag !== "dev") return flag;
    const binary = await readFile(this.path, "latin1");
    const module = /\tgithub\.com\/bojand\/ghz\t(v[^\t\n]+)\t/.exec(binary)?.[1];
    return module ?? (flag || "unknown");
  }

  private exec(args: readonly string[], timeoutMs: number, options: { withStderr?: boolean } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.path, [...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: "utf8", signal: this.signal }, (error, stdout, stderr) => {
        if (error) reject(new Error(`ghz ${args.join(" ")}: ${error.message}\n${stderr}${stdout}`.trim()));
        else resolve(options.withStderr === true ? stdout + stderr : stdout);
      });
    });
  }
}

/** ghz's command line for one run, writing its JSON report to `output`. */
export function ghzArgs(run: GhzRun, output: string): string[] {
  const transport = run.tls === undefined ? ["--insecure"] : [`--cacert=${run.tls.caFile}`, `--cname=${run.tls.serverName}`];
  const args = [
    ...transport,
    `--connections=${run.connections ?? 1}`,
    `--concurrency=${run.concurrency}`,
    `--call=${run.call}`,
    `--data=${JSON.stringify(run.data)}`,
    "--format=json",
    `--output=${output}`,
  ];
  if (Object.keys(run.metadata).length > 0) args.push(`--metadata=${JSON.stringify(run.metadata)}`);
  if (run.proto !== undefined) args.push(`--proto=${run.proto.file}`, `--import-paths=${run.proto.importPath}`);
  if (run.load.kind === "calls") args.push(`--total=${run.load.calls}`);
  // "wait": calls in flight when the time is up finish and count, instead of being cut as errors.
  else args.push(`--duration=${run.load.seconds}s`, "--duration-stop=wait");
  args.push(run.address);
  return args;
}

function toResult(report: GhzReport): GhzResult {
  const statusCodes = report.statusCodeDistribution ?? {};
  const okCalls = statusCodes["OK"] ?? 0;
  const seconds = report.total / 1e9;
  const percentile = (p: number) => {
    const found = report.latencyDistribution?.find((entry) => entry.percentage === p);
    return found === undefined ? Number.NaN : found.latency / NANOS_PER_MS;
  };
  return {
    calls: report.count,
    okCalls,
    errorCalls: report.count - okCalls,
    errors: report.errorDistribution ?? {},
    statusCodes,
    seconds,
    rps: seconds > 0 ? okCalls / seconds : 0,
    p50Ms: percentile(50),
    p99Ms: percentile(99),
    meanMs: report.average / NANOS_PER_MS,
    endReason: report.endReason,
  };
}
