// A CPU budget for one process and all its threads: its own cgroup with a CFS bandwidth quota,
// what a Kubernetes CPU limit gives a pod. The topology benchmark gives every key-service replica
// the same budget, so k replicas get k budgets of CPU however few cores the machine has (with two
// cores, one uncapped replica plus ghz already fills the machine and a second one has nowhere to
// run). cgroup v1 (the cpu controller's own hierarchy) and v2 (a unified hierarchy with the cpu
// controller enabled at its root) are supported; anything else is reported, not worked around.
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The CFS period the quota is a share of (the kernel's default). */
const PERIOD_MICROS = 100_000;

export interface CpuQuota {
  /** The budget in cores (0.5: half of one core's time per period). */
  readonly cores: number;
  /** The cgroup's directory. */
  readonly path: string;
  /** Moves a process (with every thread it has and starts later) into the budget. */
  add(pid: number): Promise<void>;
  /** Moves what is still inside back to the root group and removes the group. */
  release(): Promise<void>;
}

export type CpuQuotaOutcome = { readonly ok: true; readonly quota: CpuQuota } | { readonly ok: false; readonly reason: string };

/** Where CPU quotas can be made on this machine. */
export type CgroupRoot = { readonly version: 1 | 2; readonly path: string };

/** The writable cgroup hierarchy with the cpu controller, or why there is none. */
export function findCgroupRoot(base = "/sys/fs/cgroup"): CgroupRoot | { readonly reason: string } {
  const v1 = join(base, "cpu");
  if (existsSync(join(v1, "cpu.cfs_quota_us"))) return { version: 1, path: v1 };
  const controllers = join(base, "cgroup.controllers");
  if (existsSync(controllers)) {
    const enabled = readFileSync(join(base, "cgroup.subtree_control"), "utf8").split(/\s+/);
    if (enabled.includes("cpu")) return { version: 2, path: base };
    return { reason: `cgroup v2 at ${base} does not delegate the cpu controller to its children (cgroup.subtree_control: ${enabled.join(" ").trim() || "empty"})` };
  }
  return { reason: `no cgroup cpu controller under ${base}` };
}

/** Creates the group `name` with a budget of `cores`; not ok (with why) where that is not possible. */
export async function createCpuQuota(name: string, cores: number, root: CgroupRoot | { readonly reason: string } = findCgroupRoot()): Promise<CpuQuotaOutcome> {
  if (!(cores > 0) || !Number.isFinite(cores)) throw new RangeError(`a CPU quota needs a positive number of cores, got ${cores}`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new RangeError(`cgroup name ${JSON.stringify(name)}: letters, digits, '.', '_' and '-' only`);
  if ("reason" in root) return { ok: false, reason: root.reason };
  const path = join(root.path, name);
  const quotaMicros = Math.max(1000, Math.round(cores * PERIOD_MICROS));
  try {
    await mkdir(path);
  } catch (error) {
    return { ok: false, reason: `cannot create cgroup ${path}: ${(error as Error).message}` };
  }
  try {
    if (root.version === 1) {
      await writeFile(join(path, "cpu.cfs_period_us"), String(PERIOD_MICROS));
      await writeFile(join(path, "cpu.cfs_quota_us"), String(quotaMicros));
    } else {
      await writeFile(join(path, "cpu.max"), `${quotaMicros} ${PERIOD_MICROS}`);
    }
  } catch (error) {
    await rmdir(path).catch(() => undefined);
    return { ok: false, reason: `cannot set the CPU quota of ${path}: ${(error as Error).message}` };
  }
  let released = false;
  return {
    ok: true,
    quota: {
      cores,
      path,
      add: async (pid) => {
        if (released) throw new Error(`cgroup ${path} was released`);
        await writeFile(join(path, "cgroup.procs"), String(pid));
      },
      release: async () => {
        if (released) return;
        released = true;
        const inside = (await readFile(join(path, "cgroup.procs"), "utf8").catch(() => "")).split("\n").filter((line) => line !== "");
        for (const pid of inside) await writeFile(join(root.path, "cgroup.procs"), pid).catch(() => undefined);
        await rmdir(path).catch(() => undefined);
      },
    },
  };
}
