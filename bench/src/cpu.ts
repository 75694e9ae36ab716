// CPU time a process has used, from /proc/<pid>/stat (all its threads: the event loop, libuv's
// pool, V8's GC and compiler threads).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Clock ticks per second that /proc reports in (USER_HZ, 100 on Linux almost everywhere). */
export function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    if (Number.isInteger(ticks) && ticks > 0) return ticks;
  } catch {
    // no getconf: fall through
  }
  return 100;
}

/** Two fields of /proc/<pid>/stat, numbered as in proc(5), summed. */
function statTicks(pid: number | "self", first: number, second: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state).
  const a = Number(fields[first - 3]);
  const b = Number(fields[second - 3]);
  if (!Number.isFinite(a) || !Number.isFinite(b)) throw new Error(`unreadable /proc/${pid}/stat`);
  return a + b;
}

/** User + system CPU time of a live process (utime + stime), in clock ticks. */
export function cpuTicks(pid: number): number {
  return statTicks(pid, 14, 15);
}

/** User + system CPU time of this process's exited and reaped children (cutime + cstime), in clock ticks. */
export function reapedChildrenCpuTicks(): number {
  return statTicks("self", 16, 17);
}

/** Starts a CPU-time measurement; the returned function gives the CPU seconds used since. */
export function measureCpu(readTicks: () => number, ticksPerSecond: number): () => number {
  const before = readTicks();
  return () => (readTicks() - before) / ticksPerSecond;
}

/** The whole machine's CPU time from /proc/stat's "cpu" line, in clock ticks: busy (everything but idle and iowait) and all. */
export function machineCpuTicks(): { readonly busy: number; readonly total: number } {
  return parseMachineCpu(readFileSync("/proc/stat", "utf8"));
}

/** busy and total ticks of the first ("cpu", all cores) line of a /proc/stat text. */
export function parseMachineCpu(stat: string): { readonly busy: number; readonly total: number } {
  const line = stat.split("\n").find((l) => l.startsWith("cpu "));
  if (line === undefined) throw new Error("no cpu line in /proc/stat");
  // user nice system idle iowait irq softirq steal (guest and guest_nice are counted in user and nice).
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) throw new Error("unreadable cpu line in /proc/stat");
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** Starts a measurement of the machine's busy CPU time; the returned function gives the busy CPU seconds since (all cores). */
export function measureMachineCpu(ticksPerSecond: number): () => number {
  const before = machineCpuTicks().busy;
  return () => (machineCpuTicks().busy - before) / ticksPerSecond;
}
