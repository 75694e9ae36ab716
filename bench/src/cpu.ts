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

/** User + system CPU time of a live process, in clock ticks. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc/${pid}/stat`);
  return utime + stime;
}

/** Starts a CPU-time measurement of pid; the returned function gives the CPU seconds used since. */
export function measureCpu(pid: number, ticksPerSecond: number): () => number {
  const before = cpuTicks(pid);
  return () => (cpuTicks(pid) - before) / ticksPerSecond;
}
