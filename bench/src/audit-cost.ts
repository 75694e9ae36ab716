// What auditing costs Encrypt, measured so that a change in the machine's speed during the run
// (this is often a shared VM) does not pass for a cost or a saving: two Keyhold processes, one
// with auditing on and one with KEYHOLD_AUDIT=off, both started and idle, and ghz runs against
// them in ABBA order (on, off, off, on; then off, on, on, off; …), one at a time. A linear
// drift in speed falls equally on both sides of each ABBA block, and the ratio is the sum of the
// audited runs' requests/s over the sum of the unaudited runs'. Before every run the audited
// process has shipped every event of the runs before it (its outboxes are empty): the work an
// audited run leaves behind (shipping, the log's inserts) is not done during the next run, where
// it would slow an unaudited run and pass for less cost than there is.
import type { Ghz, GhzRun } from "./ghz.ts";
import type { Load } from "./config.ts";
import { describeErrors } from "./measure.ts";

/** One side of the comparison: a server and the Encrypt call that goes to it. */
export type AuditSide = Omit<GhzRun, "concurrency" | "load">;

export interface AuditCost {
  readonly concurrency: number;
  /** requests/s of each audited run, in the order they ran. */
  readonly auditedRps: readonly number[];
  /** requests/s of each unaudited run, in the order they ran. */
  readonly unauditedRps: readonly number[];
  /** sum(audited) / sum(unaudited). */
  readonly ratio: number;
  /** The lowest and highest ratio of one ABBA block. */
  readonly blockRange: readonly [low: number, high: number];
  /** The longest wait, before a run, for the audited process to ship what earlier runs left (ms). */
  readonly longestSettleMs: number;
}

/** The order of block `index`: ABBA, then BAAB, alternating (true: the audited side). */
export function blockOrder(index: number): readonly boolean[] {
  return index % 2 === 0 ? [true, false, false, true] : [false, true, true, false];
}

export async function measureAuditCost(
  ghz: Ghz,
  audited: AuditSide,
  unaudited: AuditSide,
  options: {
    readonly blocks: number;
    readonly concurrency: number;
    readonly load: Load;
    readonly progress: (message: string) => void;
    /** Resolves (with the ms it waited) once the audited process has shipped everything; runs before every run. */
    readonly settle: () => Promise<number>;
  },
): Promise<AuditCost> {
  let longestSettleMs = 0;
  const auditedRps: number[] = [];
  const unauditedRps: number[] = [];
  const blockRatios: number[] = [];
  for (let block = 0; block < options.blocks; block++) {
    let on = 0;
    let off = 0;
    for (const isAudited of blockOrder(block)) {
      options.progress(`audit cost: block ${block + 1}/${options.blocks}, Encrypt audit ${isAudited ? "on" : "off"}`);
      longestSettleMs = Math.max(longestSettleMs, await options.settle());
      const result = await ghz.run({ ...(isAudited ? audited : unaudited), concurrency: options.concurrency, load: options.load });
      if (result.errorCalls > 0) throw new Error(`audit cost run (audit ${isAudited ? "on" : "off"}): ${result.errorCalls} failed calls: ${describeErrors(result)}`);
      (isAudited ? auditedRps : unauditedRps).push(result.rps);
      if (isAudited) on += result.rps;
      else off += result.rps;
    }
    blockRatios.push(off === 0 ? 0 : on / off);
  }
  const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
  const offTotal = sum(unauditedRps);
  return {
    concurrency: options.concurrency,
    auditedRps,
    unauditedRps,
    ratio: offTotal === 0 ? 0 : sum(auditedRps) / offTotal,
    blockRange: [Math.min(...blockRatios), Math.max(...blockRatios)],
    longestSettleMs,
  };
}

/** ABBA blocks of a full run (each four ghz runs). */
export const AUDIT_COST_BLOCKS = 5;
/** Seconds of each of those ghz runs. */
/** The longest the audited process may take to ship what a run left (it ships in well under a second). */
export const AUDIT_SETTLE_TIMEOUT_MS = 60_000;
export const AUDIT_COST_RUN_SECONDS = 3;
