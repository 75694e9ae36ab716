// One target on one server: a discarded warm-up, then a ghz run per concurrency with the
// server's CPU time read around it.
import type { BenchConfig } from "./config.ts";
import { measureCpu } from "./cpu.ts";
import type { Ghz, GhzResult } from "./ghz.ts";
import type { BenchServer } from "./servers.ts";
import type { Target, TargetId } from "./targets.ts";

export interface Measurement {
  readonly target: TargetId;
  readonly label: string;
  readonly concurrency: number;
  readonly ghz: GhzResult;
  readonly serverCpuSeconds: number;
  /** Server CPU time per completed call (successful or not), microseconds. */
  readonly serverCpuMicrosPerCall: number;
}

export interface MeasureContext {
  readonly config: BenchConfig;
  readonly ghz: Ghz;
  readonly ticksPerSecond: number;
  readonly progress: (message: string) => void;
}

export async function measureTarget(context: MeasureContext, server: BenchServer, target: Target): Promise<Measurement[]> {
  const { config, ghz } = context;
  const request = { address: server.address, call: target.call, data: target.data, proto: target.proto };
  context.progress(`${target.label}: warming up`);
  const warmup = await ghz.run({ ...request, concurrency: config.concurrencies[0], load: config.warmup });
  if (warmup.okCalls === 0) throw new Error(`${target.label}: every warm-up call failed: ${describeErrors(warmup)}`);

  const measurements: Measurement[] = [];
  for (const concurrency of config.concurrencies) {
    context.progress(`${target.label}: ${concurrency} in flight`);
    const cpuSeconds = measureCpu(server.child.pid, context.ticksPerSecond);
    const result = await ghz.run({ ...request, concurrency, load: config.load });
    const serverCpuSeconds = cpuSeconds();
    measurements.push({
      target: target.id,
      label: target.label,
      concurrency,
      ghz: result,
      serverCpuSeconds,
      serverCpuMicrosPerCall: result.calls > 0 ? (serverCpuSeconds * 1e6) / result.calls : Number.NaN,
    });
    if (result.errorCalls > 0) context.progress(`${target.label}: ${result.errorCalls} failed calls: ${describeErrors(result)}`);
  }
  return measurements;
}

export function describeErrors(result: GhzResult): string {
  return Object.entries(result.errors)
    .map(([message, count]) => `${count}× ${message}`)
    .join("; ");
}
