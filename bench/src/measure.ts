// The targets of one server: a discarded warm-up of every target first (a fresh process gets
// faster for several seconds as V8 optimises; warming all before measuring any keeps the first
// target from paying for the rest), then a ghz run per target and concurrency with the server's
// CPU time, and ghz's own, read around it.
import type { BenchConfig } from "./config.ts";
import { cpuTicks, measureCpu, reapedChildrenCpuTicks } from "./cpu.ts";
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
  /** ghz's CPU time per completed call, microseconds: it shares the machine with the server. */
  readonly clientCpuMicrosPerCall: number;
}

export interface MeasureContext {
  readonly config: BenchConfig;
  readonly ghz: Ghz;
  readonly ticksPerSecond: number;
  readonly progress: (message: string) => void;
}

export async function measureServer(context: MeasureContext, server: BenchServer, targets: readonly Target[]): Promise<Measurement[]> {
  const { config, ghz } = context;
  const request = (target: Target) => ({ address: server.address, call: target.call, data: target.data, metadata: server.metadata, proto: target.proto });

  for (const target of targets) {
    context.progress(`${target.label}: warming up`);
    const warmup = await ghz.run({ ...request(target), concurrency: config.concurrencies[0], load: config.warmup });
    if (warmup.okCalls === 0) throw new Error(`${target.label}: every warm-up call failed: ${describeErrors(warmup)}`);
  }

  const measurements: Measurement[] = [];
  for (const target of targets) {
    for (const concurrency of config.concurrencies) {
      context.progress(`${target.label}: ${concurrency} in flight`);
      const serverCpu = measureCpu(() => cpuTicks(server.child.pid), context.ticksPerSecond);
      const clientCpu = measureCpu(reapedChildrenCpuTicks, context.ticksPerSecond);
      const result = await ghz.run({ ...request(target), concurrency, load: config.load });
      const serverCpuSeconds = serverCpu();
      const perCall = (seconds: number) => (result.calls > 0 ? (seconds * 1e6) / result.calls : Number.NaN);
      measurements.push({
        target: target.id,
        label: target.label,
        concurrency,
        ghz: result,
        serverCpuSeconds,
        serverCpuMicrosPerCall: perCall(serverCpuSeconds),
        clientCpuMicrosPerCall: perCall(clientCpu()),
      });
      if (result.errorCalls > 0) context.progress(`${target.label}: ${result.errorCalls} failed calls: ${describeErrors(result)}`);
    }
  }
  return measurements;
}

export function describeErrors(result: GhzResult): string {
  return Object.entries(result.errors)
    .map(([message, count]) => `${count}× ${message}`)
    .join("; ");
}
