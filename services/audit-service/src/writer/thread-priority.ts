// Lowering the priority of the calling thread (not the process) on Linux, where the nice value
// is a per-thread attribute: setpriority(PRIO_PROCESS, tid) with the thread's id from
// /proc/thread-self. The log writer thread runs at a lower priority than the threads that answer
// calls: what it does is background work whose backlog waits durably in the services' outboxes,
// so under CPU contention calls are served first and the log catches up when there is room.
// Elsewhere nothing is changed (os.setPriority with a process id would renice the whole process).
import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

export type PriorityOutcome =
  | { readonly applied: true; readonly nice: number }
  | { readonly applied: false; readonly reason: string };

/** The id of the calling thread (Linux), or undefined where /proc/thread-self does not exist. */
export function currentThreadId(): number | undefined {
  try {
    // "<pid>/task/<tid>"
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    return Number.isSafeInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** Sets the calling thread's nice value to `nice` (0: leave it as it is). */
export function lowerThreadPriority(nice: number): PriorityOutcome {
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError(`nice must be an integer from 0 to 19, got ${nice}`);
  if (nice === 0) return { applied: false, reason: "not requested (nice 0)" };
  if (process.platform !== "linux") return { applied: false, reason: `per-thread priorities are not supported on ${process.platform}` };
  const tid = currentThreadId();
  if (tid === undefined) return { applied: false, reason: "/proc/thread-self is not readable" };
  try {
    // Never raise it: a thread that already runs nicer than asked keeps its value.
    if (getPriority(tid) < nice) setPriority(tid, nice);
    return { applied: true, nice: getPriority(tid) };
  } catch (error) {
    return { applied: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
