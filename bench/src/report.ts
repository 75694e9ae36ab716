// The benchmark's output: a table on stdout and a JSON record under bench/results/.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatCheckLine, type Row, type Summary } from "./checks.ts";
import { describeLoad, type Load } from "./config.ts";
import { formatTopologyReport, type TopologyScalingOutcome } from "./topology-scaling.ts";
import { formatTopologyAuditReport, type TopologyAuditCostOutcome } from "./topology-audit-cost.ts";
import type { XkiLoadOutcome } from "./xki-proxy-load.ts";

export interface Environment {
  readonly node: string;
  readonly platform: string;
  readonly arch: string;
  readonly cores: number;
  readonly cpuModel: string;
  readonly ghzVersion: string;
}

export interface Settings {
  readonly smoke: boolean;
  readonly load: Load;
  readonly warmup: Load;
  readonly concurrencies: readonly number[];
  readonly connections: number;
}

/** Targets that were not measured, and why. */
export interface Skip {
  readonly targets: readonly string[];
  readonly reason: string;
}

export interface BenchResult {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly environment: Environment;
  /** "full": every target; "topology": only the topology mode (--topology). */
  readonly mode: "full" | "topology";
  readonly settings: Settings;
  /** The single-process targets; undefined in the topology mode alone. */
  readonly summary: Summary | undefined;
  readonly skipped: readonly Skip[];
  /** key-service ×k behind one address against ×1 (topology-scaling.ts), or why it was not measured. */
  readonly topologyScaling?: TopologyScalingOutcome;
  /** key-service audited against KEYHOLD_AUDIT=off in the topology, in its CPU budget (topology-audit-cost.ts). */
  readonly topologyAuditCost?: TopologyAuditCostOutcome;
  /** xki-proxy at 1,800 requests/s per HSM call mode (xki-proxy-load.ts), or why it was skipped. */
  readonly xkiProxy?: readonly XkiLoadOutcome[];
}

export function formatReport(result: BenchResult): string {
  const { environment: env, settings, summary } = result;
  const lines: string[] = [];
  const machine = `Node ${env.node} · ${env.cores} cores (${env.cpuModel}) · ghz ${env.ghzVersion}`;
  if (summary === undefined) {
    lines.push(`${machine} · topology mode only${settings.smoke ? " · SMOKE (figures are rough)" : ""}`);
    if (result.topologyScaling !== undefined) lines.push("", formatTopologyReport(result.topologyScaling));
    if (result.topologyAuditCost !== undefined) lines.push("", formatTopologyAuditReport(result.topologyAuditCost));
    return lines.join("\n");
  }
  lines.push(
    `${machine} · ${settings.connections} connection · ` +
      `${describeLoad(settings.load)} per run after ${describeLoad(settings.warmup)} warm-up per target${settings.smoke ? " · SMOKE (figures are rough)" : ""}`,
    "",
  );
  lines.push(...table(summary.rows));
  const ratios = (title: string, values: Summary["dataKeyToEncrypt"]) =>
    values.length === 0 ? [] : [`${title}: ` + values.map((r) => `${r.ratio.toFixed(2)}× at ${r.concurrency} in flight`).join(", ")];
  const ratioLines = [
    ...ratios("GenerateDataKey / Encrypt req/s", summary.dataKeyToEncrypt),
    ...ratios("Encrypt audit on / audit off req/s", summary.encryptAuditedToUnaudited),
    ...summary.signToSingleCore.map(
      (r) => `${r.label} req/s / single-core node:crypto signatures/s (${Math.round(r.singleCorePerSecond).toLocaleString("en-US")}/s): ${r.ratio.toFixed(2)}× at ${r.concurrency} in flight`,
    ),
  ];
  const cost = summary.auditCost;
  if (cost !== undefined) {
    const rps = (values: readonly number[]) => values.map((v) => Math.round(v).toLocaleString("en-US")).join(", ");
    ratioLines.push(
      `Encrypt audit on / audit off in the all-in-one process, interleaved ABBA runs at ${cost.concurrency} in flight: ${cost.ratio.toFixed(2)}× ` +
        `(blocks ${cost.blockRange[0].toFixed(2)}–${cost.blockRange[1].toFixed(2)}; on ${rps(cost.auditedRps)} req/s; off ${rps(cost.unauditedRps)} req/s; ` +
        `each run after the audited process shipped all it held, longest wait ${Math.round(cost.longestSettleMs)} ms). ` +
        `For reading: here audit-service's log writes share the process and the cores with key-service and ghz; ` +
        `the target is checked with key-service deployed as its own service (audit cost in the topology, below)`,
    );
  }
  const capacity = summary.outboxCapacity;
  if (capacity !== undefined) {
    ratioLines.push(
      `audit outbox: ${Math.round(capacity.eventsPerSecond).toLocaleString("en-US")} events/s durably appended with ${capacity.inFlight} in flight (${capacity.eventsPerCommit.toFixed(0)} events per fsync)`,
    );
  }
  const hsm = summary.hsmOverhead;
  if (hsm !== undefined) {
    const whole = (n: number) => Math.round(n).toLocaleString("en-US");
    for (const row of hsm.rows) {
      ratioLines.push(
        `hsm-gateway vs raw pkcs11js AES-GCM (one process, SoftHSMv2, ${hsm.plaintextBytes} B, ${hsm.aadBytes} B AAD) at ${row.concurrency} in flight: ` +
          `raw ${whole(row.raw.perSecond)}/s (${fixed(row.raw.cpuMicrosPerCall, 1)} µs CPU/call), gateway ${whole(row.gateway.perSecond)}/s ` +
          `(${fixed(row.gateway.cpuMicrosPerCall, 1)} µs CPU/call): ${row.ratio.toFixed(2)}×, the gateway adds ${fixed(row.addedMicrosPerCall, 1)} µs ` +
          `(${fixed(row.addedCpuMicrosPerCall, 1)} µs CPU) per call`,
      );
    }
  }
  ratioLines.push(...ratios("Encrypt HSM key / software key req/s", summary.hsmToSoftwareEncrypt));
  ratioLines.push(...ratios("Encrypt HSM key (whole RPC over gRPC) / raw pkcs11js encryptions per second (for reading; no target)", summary.hsmEncryptToRawPkcs11));
  if (ratioLines.length > 0) lines.push("", ...ratioLines);
  for (const skip of result.skipped) lines.push("", `SKIPPED ${skip.targets.join(", ")}: ${skip.reason}`);
  lines.push("", "Targets:");
  for (const check of summary.checks) lines.push(formatCheckLine(check));
  if (result.topologyScaling !== undefined) lines.push("", formatTopologyReport(result.topologyScaling));
  if (result.topologyAuditCost !== undefined) lines.push("", formatTopologyAuditReport(result.topologyAuditCost));
  return lines.join("\n");
}

function table(rows: readonly Row[]): string[] {
  const header = ["target", "in flight", "req/s", "p50 ms", "p99 ms", "server CPU µs/call", "ghz CPU µs/call", "× bare echo", "errors"];
  const body = rows.map((row) => [
    row.label,
    String(row.concurrency),
    Math.round(row.ghz.rps).toLocaleString("en-US"),
    fixed(row.ghz.p50Ms, 2),
    fixed(row.ghz.p99Ms, 2),
    fixed(row.serverCpuMicrosPerCall, 1),
    fixed(row.clientCpuMicrosPerCall, 1),
    row.ratioToBareEcho === undefined ? "—" : `${row.ratioToBareEcho.toFixed(2)}×`,
    String(row.ghz.errorCalls),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => cells[column]!.length)));
  const render = (cells: readonly string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  ");
  return [render(header), widths.map((w) => "─".repeat(w)).join("  "), ...body.map(render)];
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "—";
}

/**
 * Writes the result as bench/results/<ISO timestamp>.json (":" spelt "-" so the name works
 * everywhere). A figure that could not be measured (NaN) is written as null.
 */
export async function writeResult(resultsDir: string, result: BenchResult): Promise<string> {
  await mkdir(resultsDir, { recursive: true });
  const path = join(resultsDir, `${result.startedAt.replaceAll(":", "-")}.json`);
  await writeFile(path, JSON.stringify(result, null, 2) + "\n");
  return path;
}
