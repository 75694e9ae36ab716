// The gateway's numbers: session pool size, sessions in use, time spent waiting for a session,
// and operations and errors by method and CKR_* value. Labels are from closed sets (method
// names, CKR_* names), never key ids.
export interface PoolGauges {
  readonly size: number;
  readonly inUse: number;
  readonly waiting: number;
  readonly capacity: number;
}

export interface HsmMetricsSnapshot {
  readonly pool: PoolGauges;
  /** Session waits: how many, total and longest milliseconds. */
  readonly wait: { readonly count: number; readonly totalMs: number; readonly maxMs: number };
  /** Operations by method, and errors by method and CKR_* (or Keyhold reason when no CKR_ applies). */
  readonly operations: Readonly<Record<string, number>>;
  readonly errors: Readonly<Record<string, number>>;
}

export class HsmMetrics {
  readonly #operations = new Map<string, number>();
  readonly #errors = new Map<string, number>();
  #waitCount = 0;
  #waitTotalMs = 0;
  #waitMaxMs = 0;
  readonly #pool: () => PoolGauges;

  constructor(pool: () => PoolGauges) {
    this.#pool = pool;
  }

  operation(method: string): void {
    this.#operations.set(method, (this.#operations.get(method) ?? 0) + 1);
  }

  error(method: string, code: string): void {
    const key = `${method}:${code}`;
    this.#errors.set(key, (this.#errors.get(key) ?? 0) + 1);
  }

  waited(ms: number): void {
    this.#waitCount++;
    this.#waitTotalMs += ms;
    if (ms > this.#waitMaxMs) this.#waitMaxMs = ms;
  }

  snapshot(): HsmMetricsSnapshot {
    return {
      pool: this.#pool(),
      wait: { count: this.#waitCount, totalMs: this.#waitTotalMs, maxMs: this.#waitMaxMs },
      operations: Object.fromEntries(this.#operations),
      errors: Object.fromEntries(this.#errors),
    };
  }

  /** The Prometheus text exposition of the snapshot. */
  prometheus(): string {
    const s = this.snapshot();
    const lines = [
      "# TYPE keyhold_hsm_pool_sessions gauge",
      `keyhold_hsm_pool_sessions ${s.pool.size}`,
      "# TYPE keyhold_hsm_pool_sessions_in_use gauge",
      `keyhold_hsm_pool_sessions_in_use ${s.pool.inUse}`,
      "# TYPE keyhold_hsm_pool_waiting gauge",
      `keyhold_hsm_pool_waiting ${s.pool.waiting}`,
      "# TYPE keyhold_hsm_pool_capacity gauge",
      `keyhold_hsm_pool_capacity ${s.pool.capacity}`,
      "# TYPE keyhold_hsm_pool_wait_seconds summary",
      `keyhold_hsm_pool_wait_seconds_count ${s.wait.count}`,
      `keyhold_hsm_pool_wait_seconds_sum ${s.wait.totalMs / 1000}`,
      "# TYPE keyhold_hsm_operations_total counter",
      ...Object.entries(s.operations).map(([method, n]) => `keyhold_hsm_operations_total{method="${method}"} ${n}`),
      "# TYPE keyhold_hsm_errors_total counter",
      ...Object.entries(s.errors).map(([key, n]) => {
        const [method, code] = key.split(":");
        return `keyhold_hsm_errors_total{method="${method ?? ""}",code="${code ?? ""}"} ${n}`;
      }),
    ];
    return `${lines.join("\n")}\n`;
  }
}
