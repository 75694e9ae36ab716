// Runs hsm-overhead-entry.ts in a child of its own (the token's SOFTHSM2_CONF in its
// environment) and sums its rounds into calls/s and CPU per call for each path and concurrency.
import { join } from "node:path";
import type { ChildSet } from "./children.ts";
import type { BenchConfig } from "./config.ts";
import type { HsmOverheadOutput, HsmOverheadParameters, HsmPath } from "./hsm-overhead-entry.ts";
import type { BenchToken } from "./softhsm.ts";

export interface HsmPathFigures {
  readonly perSecond: number;
  /** CPU time of the measuring process per call, microseconds. */
  readonly cpuMicrosPerCall: number;
}

export interface HsmOverheadRow {
  readonly concurrency: number;
  readonly raw: HsmPathFigures;
  readonly gateway: HsmPathFigures;
  /** gateway calls/s over raw calls/s. */
  readonly ratio: number;
  /** What one call through the gateway costs beyond the raw call: wall-clock and CPU microseconds. */
  readonly addedMicrosPerCall: number;
  readonly addedCpuMicrosPerCall: number;
}

export interface HsmOverhead {
  readonly plaintextBytes: number;
  readonly aadBytes: number;
  readonly rows: readonly HsmOverheadRow[];
}

const CHILD_TIMEOUT_MS = 300_000;

export async function measureHsmOverhead(
  config: BenchConfig,
  children: ChildSet,
  token: BenchToken,
  parameters: HsmOverheadParameters,
): Promise<HsmOverhead> {
  const script = join(config.repoRoot, "bench", "src", "hsm-overhead-entry.ts");
  const child = children.spawnNode("hsm overhead", [script, JSON.stringify(parameters)], { cwd: config.repoRoot, env: { ...config.childEnv, ...token.env } });
  let output: HsmOverheadOutput | undefined;
  const unsubscribe = child.onStdoutLine((line) => {
    if (line.startsWith('{"hsmOverhead"')) output = JSON.parse(line) as HsmOverheadOutput;
  });
  const timer = setTimeout(() => void children.stop(child), CHILD_TIMEOUT_MS);
  try {
    await child.exited;
  } finally {
    clearTimeout(timer);
    unsubscribe();
  }
  if (output === undefined) throw new Error(`the HSM overhead child ended without a result (${child.describeExit()}):\n${child.output()}`);

  const figures = (path: HsmPath, concurrency: number): HsmPathFigures => {
    const samples = output!.hsmOverhead.filter((s) => s.path === path && s.concurrency === concurrency);
    const calls = samples.reduce((sum, s) => sum + s.calls, 0);
    const seconds = samples.reduce((sum, s) => sum + s.seconds, 0);
    const cpu = samples.reduce((sum, s) => sum + s.cpuSeconds, 0);
    return { perSecond: seconds > 0 ? calls / seconds : 0, cpuMicrosPerCall: calls > 0 ? (cpu * 1e6) / calls : Number.NaN };
  };
  const rows = parameters.concurrencies.map((concurrency) => {
    const raw = figures("raw", concurrency);
    const gateway = figures("gateway", concurrency);
    return {
      concurrency,
      raw,
      gateway,
      ratio: raw.perSecond > 0 ? gateway.perSecond / raw.perSecond : 0,
      addedMicrosPerCall: 1e6 / gateway.perSecond - 1e6 / raw.perSecond,
      addedCpuMicrosPerCall: gateway.cpuMicrosPerCall - raw.cpuMicrosPerCall,
    };
  });
  return { plaintextBytes: parameters.plaintextBytes, aadBytes: parameters.aadBytes, rows };
}
