// What auditing costs key-service where it is deployed as its own service: `keyhold topology`
// (every service its own process, mTLS, PostgreSQL + Redis) with one key-service process, once
// audited and once with KEYHOLD_AUDIT=off, both started up front, compared in interleaved ABBA
// Encrypt runs (audit-cost.ts) with the audited topology's outboxes shipped before every run.
// key-service runs in a CPU budget (a cgroup CPU quota, as a Kubernetes CPU limit; the scaling
// measurement's --replica-cores), and audit-service in its own process outside it: the ratio is
// what auditing (the interceptor, the fsynced outbox, the shipper) costs key-service's own
// cores, while the log's inserts are audit-service's work, on its own cores in a deployment. The
// all-in-one process's ratio (main.ts) is the other reading: there audit-service's log shares
// one process, and the machine's cores, with key-service and ghz.
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile } from "node:fs/promises";
import { request } from "node:https";
import { userInfo } from "node:os";
import { join } from "node:path";
import { AUDIT_COST_BLOCKS, AUDIT_COST_RUN_SECONDS, AUDIT_SETTLE_TIMEOUT_MS, measureAuditCost, type AuditCost, type AuditSide } from "./audit-cost.ts";
import { formatCheckLine, topologyAuditChecks, type Check } from "./checks.ts";
import { describeLoad, type Load } from "./config.ts";
import { waitUntilAuditShipped, type MetricsReader } from "./keyhold.ts";
import { describeErrors } from "./measure.ts";
import {
  budgetReplicas, CONNECTIONS_PER_REPLICA, KEY_SERVICE, missingStores, startBenchTopology, TOPOLOGY_CONCURRENCY,
  type BenchTopology, type ReplicaBudgets, type TopologyContext,
} from "./topology-scaling.ts";

/**
 * Discarded load on each topology before the first measured run: in its budget a key-service
 * process takes this long to serve at the speed V8's optimised code gives it.
 */
export const TOPOLOGY_AUDIT_WARMUP: Load = { kind: "duration", seconds: 10 };
/**
 * --smoke: two ABBA blocks (ABBA, BAAB) instead of five, of runs as long as a full run's: one
 * block of 1,500-call runs ranged 0.69–1.05 on a two-core machine, where a budgeted process's
 * req/s varies by ±40 % from one short run to the next.
 */
export const TOPOLOGY_AUDIT_SMOKE_BLOCKS = 2;

export interface TopologyAuditCost {
  readonly cost: AuditCost;
  readonly connections: number;
  readonly load: Load;
  /** Discarded load on each side before the first measured run. */
  readonly warmup: Load;
  /** key-service's CPU budget in cores (undefined: uncapped, see uncappedBecause). */
  readonly keyServiceCores: number | undefined;
  readonly uncappedBecause: string | undefined;
  readonly checks: readonly Check[];
}

export type TopologyAuditCostOutcome =
  | { readonly status: "measured"; readonly result: TopologyAuditCost }
  | { readonly status: "SKIP" | "FAILED"; readonly reason: string; readonly checks: readonly Check[] };

/** GET over TLS, trusting `ca` and checking the certificate for `serverName` (a topology service's HTTP port). */
export function tlsMetricsReader(ca: Buffer, serverName: string): MetricsReader {
  return (url) =>
    new Promise((resolve, reject) => {
      const req = request(url, { ca, servername: serverName, timeout: 10_000 }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          if (response.statusCode !== 200) reject(new Error(`GET ${url}: ${response.statusCode ?? "no status"}`));
          else resolve(Buffer.concat(chunks).toString("utf8"));
        });
        response.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within 10 s`)));
      req.on("error", reject);
      req.end();
    });
}

export async function measureTopologyAuditCost(context: TopologyContext): Promise<TopologyAuditCostOutcome> {
  const { config, progress } = context;
  const keyServiceCores = config.topologyReplicaCores > 0 ? config.topologyReplicaCores : undefined;
  const notMeasured = (status: "SKIP" | "FAILED", reason: string): TopologyAuditCostOutcome => {
    progress(`topology audit cost: ${status}: ${reason.split("\n")[0] ?? ""}`);
    return { status, reason, checks: topologyAuditChecks(undefined, TOPOLOGY_CONCURRENCY, keyServiceCores) };
  };
  const cliMain = join(config.repoRoot, "packages", "cli", "src", "main.ts");
  if (!existsSync(cliMain)) return notMeasured("SKIP", "packages/cli/src/main.ts does not exist");
  const missing = missingStores(config.childEnv);
  if (missing !== undefined) return notMeasured("SKIP", missing);

  const load: Load = { kind: "duration", seconds: AUDIT_COST_RUN_SECONDS };
  const warmup = TOPOLOGY_AUDIT_WARMUP;
  const connections = CONNECTIONS_PER_REPLICA;
  const root = join(context.workDir, "topology-audit");
  await mkdir(root, { recursive: true });
  // As root, the launcher runs PostgreSQL as the postgres user, which must reach its directory.
  if (userInfo().uid === 0) for (const dir of [context.workDir, root]) await chmod(dir, 0o711);

  progress("topology audit cost: starting keyhold topology twice (one key-service process each), audited and with KEYHOLD_AUDIT=off");
  const { TOPOLOGY_LINE_PREFIX } = await import("@keyhold/cli");
  const starts = await Promise.all(
    (["on", "off"] as const).map((audit) => startBenchTopology(context, cliMain, TOPOLOGY_LINE_PREFIX, join(root, `audit-${audit}`), 1, audit)),
  );
  const topologies = starts.flatMap((start) => (start.ok ? [start.topology] : []));
  let budgets: ReplicaBudgets = { quotas: [], cores: undefined, uncappedBecause: "not applied" };
  try {
    const failures = starts.flatMap((start) => (start.ok ? [] : [start.reason]));
    if (failures.length > 0) return notMeasured("FAILED", failures.join("\n"));
    const [audited, unaudited] = topologies as [BenchTopology, BenchTopology];
    budgets = await budgetBoth(audited, unaudited, config.topologyReplicaCores);
    progress(`topology audit cost: key-service ${budgets.cores === undefined ? budgets.uncappedBecause : `capped at ${budgets.cores} cores`}`);
    const side = (topology: BenchTopology): AuditSide => ({ ...topology.encrypt, connections });
    for (const [topology, audit] of [[audited, "on"], [unaudited, "off"]] as const) {
      progress(`topology audit cost: audit ${audit}: warming up`);
      const result = await context.ghz.run({ ...side(topology), concurrency: TOPOLOGY_CONCURRENCY, load: warmup });
      if (result.okCalls === 0) throw new Error(`audit ${audit}: every warm-up call failed: ${describeErrors(result)}`);
    }
    const http = audited.addresses.services[KEY_SERVICE]?.http;
    if (http === undefined) throw new Error("the audited topology's addresses name no key-service HTTP port");
    const readMetrics = tlsMetricsReader(await readFile(audited.addresses.caFile), KEY_SERVICE);
    const cost = await measureAuditCost(context.ghz, side(audited), side(unaudited), {
      blocks: config.smoke ? TOPOLOGY_AUDIT_SMOKE_BLOCKS : AUDIT_COST_BLOCKS,
      concurrency: TOPOLOGY_CONCURRENCY,
      load,
      progress: (message) => progress(`topology ${message}`),
      settle: () => waitUntilAuditShipped(`https://${http}/metrics`, AUDIT_SETTLE_TIMEOUT_MS, readMetrics),
    });
    return {
      status: "measured",
      result: {
        cost,
        connections,
        load,
        warmup,
        keyServiceCores: budgets.cores,
        uncappedBecause: budgets.uncappedBecause,
        checks: topologyAuditChecks(cost.ratio, TOPOLOGY_CONCURRENCY, budgets.cores),
      },
    };
  } catch (error) {
    return notMeasured("FAILED", error instanceof Error ? error.message : String(error));
  } finally {
    progress("topology audit cost: stopping the topologies");
    await Promise.all(topologies.map((topology) => topology.stop()));
    await Promise.all(budgets.quotas.map((quota) => quota.release()));
  }
}

/** Each topology's key-service in its own budget of `cores` (both or neither, as budgetReplicas). */
async function budgetBoth(audited: BenchTopology, unaudited: BenchTopology, cores: number): Promise<ReplicaBudgets> {
  const on = await budgetReplicas([audited], cores, "audit-on-");
  if (on.cores === undefined) return on;
  const off = await budgetReplicas([unaudited], cores, "audit-off-");
  if (off.cores !== undefined) return { quotas: [...on.quotas, ...off.quotas], cores: on.cores, uncappedBecause: undefined };
  await Promise.all(on.quotas.map((quota) => quota.release()));
  return off;
}

/** The report's section. */
export function formatTopologyAuditReport(outcome: TopologyAuditCostOutcome): string {
  const checks = outcome.status === "measured" ? outcome.result.checks : outcome.checks;
  const checkLines = checks.map(formatCheckLine);
  if (outcome.status !== "measured") return [`Audit cost in the topology: ${outcome.status} — ${outcome.reason}`, ...checkLines].join("\n");
  const { cost, connections, load, warmup, keyServiceCores, uncappedBecause } = outcome.result;
  const rps = (values: readonly number[]) => values.map((v) => Math.round(v).toLocaleString("en-US")).join(", ");
  return [
    `Audit cost in the topology: keyhold topology audited against the same with KEYHOLD_AUDIT=off, one key-service process each ` +
      `(${keyServiceCores === undefined ? uncappedBecause ?? "uncapped" : `capped at ${keyServiceCores} cores, a cgroup CPU quota`}; audit-service its own process); ` +
      `Encrypt over TLS, ${connections} connections, ${cost.concurrency} in flight, ABBA runs of ${describeLoad(load)} after ${describeLoad(warmup)} warm-up each, ` +
      `each run after the audited key-service shipped all it held (longest wait ${Math.round(cost.longestSettleMs)} ms)`,
    `  key-service Encrypt audit on / audit off req/s: ${cost.ratio.toFixed(2)}× (blocks ${cost.blockRange[0].toFixed(2)}–${cost.blockRange[1].toFixed(2)}; on ${rps(cost.auditedRps)}; off ${rps(cost.unauditedRps)})`,
    ...checkLines,
  ].join("\n");
}
