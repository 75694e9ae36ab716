// pnpm bench: ghz against a bare node:http2 echo, the server kit's echo, and key-service's
// Encrypt / Decrypt / GenerateDataKey in the all-in-one Keyhold process, once as users run it
// (audit on) and once more in a second process started with KEYHOLD_AUDIT=off, to read what
// auditing costs; each server in its own child process so its CPU time per call can be read.
// Only one server is ever under load; the two Keyhold processes are measured one after the
// other, then, both idle between runs, compared in interleaved Encrypt runs (audit-cost.ts).
// With SoftHSMv2 installed, the benchmark makes its own token (in its work directory) and
// measures keys with origin HSM: what hsm-gateway adds to a raw pkcs11js AES-GCM encryption (one
// child process, interleaved), and Encrypt under an HSM key beside Encrypt under a software key
// in the audited Keyhold process; without SoftHSMv2 those targets are skipped, saying why.
// Then the topology mode: `keyhold topology`, every service its own process, with k key-service
// processes behind one address against one, interleaved (topology-scaling.ts), and one audited
// against one with KEYHOLD_AUDIT=off, key-service in its CPU budget (topology-audit-cost.ts)
// (`--topology` runs only these).
// Prints a table, writes bench/results/.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { AUDIT_COST_BLOCKS, AUDIT_COST_RUN_SECONDS, AUDIT_SETTLE_TIMEOUT_MS, measureAuditCost, type AuditCost, type AuditSide } from "./audit-cost.ts";
import { summarize } from "./checks.ts";
import { ChildSet } from "./children.ts";
import { HelpRequested, loadConfig, UsageError, type BenchConfig } from "./config.ts";
import { clockTicksPerSecond } from "./cpu.ts";
import { Ghz } from "./ghz.ts";
import { measureHsmOverhead, type HsmOverhead } from "./hsm-overhead.ts";
import { prepareCryptoMaterial, prepareHsmKey, prepareSigningMaterial, startKeyhold, waitUntilAuditShipped } from "./keyhold.ts";
import { measureServer, type MeasureContext, type Measurement } from "./measure.ts";
import { formatReport, writeResult, type BenchResult, type Environment, type Skip } from "./report.ts";
import { startEchoServer, type BenchServer, type EchoServerKind } from "./servers.ts";
import { measureOutboxCapacity } from "./outbox-capacity.ts";
import { measureSingleCoreSignRate, type RawSignRate } from "./raw-crypto.ts";
import { formatXkiReport, measureXkiProxy, type XkiLoadOutcome } from "./xki-proxy-load.ts";
import { createBenchToken } from "./softhsm.ts";
import { measureTopologyScaling, type TopologyScalingOutcome } from "./topology-scaling.ts";
import { measureTopologyAuditCost, type TopologyAuditCostOutcome } from "./topology-audit-cost.ts";
import {
  bareEchoTarget, cryptoTargetLabels, cryptoTargets, HSM_ENCRYPT_AAD_BYTES, HSM_ENCRYPT_LABEL, hsmEncryptTarget, kitEchoTarget, PLAINTEXT_BYTES,
  SIGN_MESSAGE_BYTES, SIGN_TARGET_LABELS, signTargets,
  type AuditMode, type SignTargetId, type Target,
} from "./targets.ts";

const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);

async function run(config: BenchConfig, children: ChildSet, ghz: Ghz, workDir: string): Promise<number> {
  const startedAt = new Date().toISOString();
  const environment: Environment = {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    ghzVersion: await ghz.version(),
  };
  const context: MeasureContext = { config, ghz, ticksPerSecond: clockTicksPerSecond(), progress };
  const topologyContext = { config, children, ghz, workDir, ticksPerSecond: context.ticksPerSecond, cores: environment.cores, progress };
  const measureTopology = () => measureTopologyScaling(topologyContext);
  if (config.topologyOnly) {
    const topologyScaling = await measureTopology();
    const topologyAuditCost = await measureTopologyAuditCost(topologyContext);
    const result: BenchResult = {
      startedAt,
      finishedAt: new Date().toISOString(),
      environment,
      mode: "topology",
      settings: { smoke: config.smoke, load: config.load, warmup: config.warmup, concurrencies: config.concurrencies, connections: 1 },
      summary: undefined,
      skipped: [],
      topologyScaling,
      topologyAuditCost,
    };
    return finish(config, result, [topologyScaling, topologyAuditCost], false, false);
  }
  const measurements: Measurement[] = [];
  const skipped: Skip[] = [];
  let failed = false;
  let auditCost: AuditCost | undefined;

  const echoes: [EchoServerKind, Target][] = [
    ["bare", bareEchoTarget(config.repoRoot)],
    ["kit", kitEchoTarget()],
  ];
  for (const [kind, target] of echoes) {
    const server = await startEchoServer(kind, config, children);
    try {
      measurements.push(...(await measureServer(context, server, [target])));
    } finally {
      await server.stop();
    }
  }

  // Raw single-core signing rates, measured while no server runs.
  const signMessage = randomBytes(SIGN_MESSAGE_BYTES);
  const rawSignSeconds = config.smoke ? 0.3 : 2;
  const rawSignRates: RawSignRate[] = (Object.keys(SIGN_TARGET_LABELS) as SignTargetId[]).map((target) => {
    progress(`single-core node:crypto signing (${target})`);
    return measureSingleCoreSignRate(target, signMessage, rawSignSeconds);
  });

  progress("audit outbox capacity (group commit, 200 appends in flight)");
  const outboxCapacity = await measureOutboxCapacity(workDir, config.smoke ? 0.5 : 3);

  // Keys with origin HSM: the benchmark's own SoftHSMv2 token, or a clear skip.
  const hsmLabels = ["hsm-gateway vs raw pkcs11js AES-GCM", HSM_ENCRYPT_LABEL];
  const hsmToken = await createBenchToken(join(workDir, "softhsm"), config.childEnv);
  let hsmOverhead: HsmOverhead | undefined;
  if (!hsmToken.ok) {
    progress(`skipping the HSM targets: ${hsmToken.reason}`);
    skipped.push({ targets: hsmLabels, reason: hsmToken.reason });
  } else {
    progress("hsm-gateway vs raw pkcs11js AES-GCM encryption (one process, interleaved)");
    try {
      hsmOverhead = await measureHsmOverhead(config, children, hsmToken.token, {
        concurrencies: config.concurrencies,
        // Many short alternating runs: a shared machine's drift falls on both paths alike.
        rounds: config.smoke ? 2 : 12,
        phaseSeconds: config.smoke ? 0.25 : 0.5,
        plaintextBytes: PLAINTEXT_BYTES,
        aadBytes: HSM_ENCRYPT_AAD_BYTES,
      });
    } catch (error) {
      failed = true;
      const reason = `FAILED: ${error instanceof Error ? error.message : String(error)}`;
      progress(`hsm-gateway vs raw pkcs11js ${reason}`);
      skipped.push({ targets: [hsmLabels[0]!], reason });
    }
  }

  const plaintext = randomBytes(PLAINTEXT_BYTES);
  // Both Keyhold processes stay up (idle while the other is measured) for the interleaved audit
  // cost measurement after their targets; they are stopped at the end.
  const encryptSides: Partial<Record<AuditMode, AuditSide>> = {};
  let auditedMetricsUrl: string | undefined;
  const keyholds: BenchServer[] = [];
  try {
    for (const audit of ["on", "off"] as const satisfies readonly AuditMode[]) {
      const cryptoLabels = cryptoTargetLabels(audit);
      // The HSM key's Encrypt runs beside the software key's, in the process as users run it.
      const withHsm = audit === "on" && hsmToken.ok;
      progress(`starting keyhold dev (audit ${audit}${withHsm ? ", with the benchmark's SoftHSMv2 token" : ""})`);
      const keyhold = await startKeyhold(config, children, join(workDir, `keyhold-data-audit-${audit}`), audit, withHsm ? hsmToken.token.env : {});
      if (!keyhold.ok) {
        progress(`skipping key-service targets (audit ${audit}): ${keyhold.reason}`);
        const labels = audit === "on" ? [...cryptoLabels, ...Object.values(SIGN_TARGET_LABELS), ...(withHsm ? [HSM_ENCRYPT_LABEL] : [])] : cryptoLabels;
        skipped.push({ targets: labels, reason: keyhold.reason });
        continue;
      }
      keyholds.push(keyhold.server);
      if (audit === "on") auditedMetricsUrl = keyhold.metricsUrl;
      try {
        const material = await prepareCryptoMaterial(keyhold.server, plaintext);
        // Sign targets run against the process as users run it (audit on) only.
        const signing = audit === "on" ? signTargets(await prepareSigningMaterial(keyhold.server, signMessage)) : [];
        const hsm = withHsm ? [hsmEncryptTarget(await prepareHsmKey(keyhold.server, plaintext), plaintext)] : [];
        const targets = cryptoTargets(material, audit);
        measurements.push(...(await measureServer(context, keyhold.server, [...targets, ...hsm, ...signing])));
        const encrypt = targets.find((target) => target.id === (audit === "on" ? "encrypt" : "encrypt-audit-off"));
        if (encrypt !== undefined) {
          encryptSides[audit] = { address: keyhold.server.address, call: encrypt.call, data: encrypt.data, metadata: keyhold.server.metadata, proto: encrypt.proto };
        }
      } catch (error) {
        failed = true;
        const reason = `FAILED: ${error instanceof Error ? error.message : String(error)}`;
        progress(`key-service targets (audit ${audit}) ${reason}`);
        const measured = new Set(measurements.map((m) => m.label));
        skipped.push({ targets: [...cryptoLabels, ...(withHsm ? [HSM_ENCRYPT_LABEL] : [])].filter((label) => !measured.has(label)), reason });
      }
    }
    if (encryptSides.on !== undefined && encryptSides.off !== undefined && auditedMetricsUrl !== undefined) {
      const metricsUrl = auditedMetricsUrl;
      try {
        auditCost = await measureAuditCost(ghz, encryptSides.on, encryptSides.off, {
          blocks: config.smoke ? 1 : AUDIT_COST_BLOCKS,
          concurrency: config.concurrencies[0],
          load: config.smoke ? config.load : { kind: "duration", seconds: AUDIT_COST_RUN_SECONDS },
          progress,
          settle: () => waitUntilAuditShipped(metricsUrl, AUDIT_SETTLE_TIMEOUT_MS),
        });
      } catch (error) {
        failed = true;
        progress(`audit cost: FAILED: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  } finally {
    for (const server of keyholds) await server.stop();
  }

  progress("xki-proxy at 1,800 requests/s");
  const xki: XkiLoadOutcome[] = [];
  for (const mode of ["thread-pool", "inline"] as const) {
    try {
      xki.push(await measureXkiProxy(config, children, progress, mode));
    } catch (error) {
      failed = true;
      xki.push({ ok: false, mode, reason: `FAILED: ${error instanceof Error ? error.message : String(error)}` });
    }
  }

  progress("topology scaling: key-service replicas behind one address");
  const topologyScaling = await measureTopology();
  progress("topology audit cost: key-service audited and not, each in its CPU budget");
  const topologyAuditCost = await measureTopologyAuditCost(topologyContext);

  const summary = summarize(measurements, config.concurrencies, rawSignRates, outboxCapacity, auditCost, hsmOverhead);
  const result: BenchResult = {
    startedAt,
    finishedAt: new Date().toISOString(),
    environment,
    mode: "full",
    settings: { smoke: config.smoke, load: config.load, warmup: config.warmup, concurrencies: config.concurrencies, connections: 1 },
    summary,
    skipped,
    xkiProxy: xki,
    topologyScaling,
    topologyAuditCost,
  };
  const missed = summary.checks.some((check) => check.status === "MISS");
  const callsFailed = measurements.some((m) => m.ghz.errorCalls > 0);
  const xkiMissed = xki.some((outcome) => !outcome.ok || outcome.result.status === "MISS");
  return finish(config, result, [topologyScaling, topologyAuditCost], failed, missed || callsFailed || skipped.length > 0 || xkiMissed);
}

/**
 * Prints the report and writes the result. Exit code 1 when something failed (here or in the
 * topology mode), or with --strict when a target was missed or skipped or calls failed.
 */
async function finish(
  config: BenchConfig,
  result: BenchResult,
  topology: readonly (TopologyScalingOutcome | TopologyAuditCostOutcome)[],
  failed: boolean,
  missed: boolean,
): Promise<number> {
  process.stdout.write("\n" + formatReport(result) + "\n");
  for (const outcome of result.xkiProxy ?? []) process.stdout.write("\n" + formatXkiReport(outcome) + "\n");
  const path = await writeResult(config.resultsDir, result);
  process.stdout.write(`\nwrote ${relative(config.repoRoot, path)}\n`);

  if (failed || topology.some((outcome) => outcome.status === "FAILED")) return 1;
  const topologyMissed = topology.some((outcome) => outcome.status !== "measured" || outcome.result.checks.some((check) => check.status !== "PASS"));
  if (config.strict && (missed || topologyMissed)) {
    process.stderr.write("--strict: a target was missed or skipped, or calls failed\n");
    return 1;
  }
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  let config: BenchConfig;
  try {
    config = loadConfig(argv);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(error.message);
      return 0;
    }
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(error.message.trimEnd() + "\n");
    return 2;
  }

  const children = new ChildSet();
  // ghz's reports and Keyhold's data directory; removed at the end.
  const workDir = await mkdtemp(join(tmpdir(), "keyhold-bench-"));
  const shutdown = new AbortController();
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      shutdown.abort();
      await children.stopAll();
      await rm(workDir, { recursive: true, force: true });
    })());
  // Whatever happens, no server (or ghz) outlives the benchmark.
  process.once("exit", () => children.killAllNow());
  let interruptedExitCode: number | undefined;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.once(signal, () => {
      process.stderr.write(`[bench] ${signal}: stopping\n`);
      interruptedExitCode = code;
      void cleanUp().finally(() => process.exit(code));
    });
  }
  try {
    return await run(config, children, new Ghz(config.ghzPath, workDir, shutdown.signal), workDir);
  } catch (error) {
    // What an interruption breaks (the aborted ghz run, a killed server) is no failure of its own.
    if (interruptedExitCode !== undefined) return interruptedExitCode;
    throw error;
  } finally {
    await cleanUp();
  }
}

// The event loop drained while the benchmark still awaited something (a promise that only an
// unref'd timer or handle would settle): fail loudly instead of exiting 0 without a report.
let finished = false;
process.once("beforeExit", () => {
  if (finished) return;
  process.stderr.write("bench failed: the event loop emptied before the benchmark finished (an awaited promise can never settle)\n");
  process.exit(1);
});

main(process.argv.slice(2)).then(
  (code) => {
    finished = true;
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
