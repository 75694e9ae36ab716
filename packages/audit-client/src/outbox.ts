// The durable local outbox: every audit event is committed (fsynced) to a SQLite file before
// the call it describes is answered, and stays there until audit-service acknowledges it.
//
// Group commit: at most one write transaction is in flight at a time; appends arriving while it
// is in flight are batched into the next one, so one fsync covers as many events as arrived
// during the previous fsync. The transaction runs in a worker thread (outbox-writer.ts), so the
// event loop only encodes events and passes one message per batch. When the file cannot be
// written, every append of the failed batch rejects with AUDIT_UNAVAILABLE (the call fails
// closed) and the outbox reports unhealthy until a later commit succeeds.
import { Worker } from "node:worker_threads";
import { KeyholdError } from "@keyhold/server-kit";
import {
  packEvents, unpackEvents,
  type OutboxRow, type WriterConfig, type WriterFailure, type WriterReply, type WriterRequest, type WriterResult, type WriterStats,
} from "./outbox-protocol.ts";

/** Where the interceptor sends events: the Outbox, or anything with the same promise. */
export interface AuditSink {
  /**
   * Resolves once the event (an encoded AuditEvent, see encodeAuditEvent) is durably recorded;
   * rejects with AUDIT_UNAVAILABLE when it cannot be.
   */
  append(event: Uint8Array): Promise<void>;
}

export interface OutboxOptions {
  /** The SQLite file (its directory is created when missing). */
  readonly path: string;
  /** This service's name, e.g. "key-service": the prefix of the source id when the file is created. */
  readonly service: string;
  /** At most this many events per transaction (default 4096); more wait for the next one. */
  readonly maxBatchEvents?: number;
  /** Told when the outbox turns unhealthy (a commit failed) or healthy again (a commit succeeded). */
  readonly onHealthChange?: (healthy: boolean, cause: Error | undefined) => void;
  /**
   * While unhealthy, a small write is tried this often (default 5000 ms) so the outbox turns
   * healthy again when the fault is gone even if no call arrives (e.g. while a load balancer
   * keeps traffic away because the service reports NOT_SERVING).
   */
  readonly probeIntervalMs?: number;
  /**
   * How long an acknowledged deletion waits for an append's commit to ride with before it is
   * committed on its own (default 1000 ms).
   */
  readonly deleteDelayMs?: number;
}

export interface OutboxStats extends WriterStats {
  readonly source: string;
  readonly healthy: boolean;
}

export type { OutboxRow };

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

interface Pending {
  resolve(result: WriterResult): void;
  reject(error: OutboxWriterError): void;
}

/** What the writer thread reported (logged as the cause of AUDIT_UNAVAILABLE, never sent). */
export class OutboxWriterError extends Error {
  override readonly name = "OutboxWriterError";
  /** SQLITE_FULL, SQLITE_IOERR_WRITE, SQLITE_READONLY, SQLITE_CANTOPEN, CLOSED, WRITER_EXIT, … */
  readonly code: string;

  constructor(failure: WriterFailure) {
    super(`${failure.code}: ${failure.message}`);
    this.code = failure.code;
  }
}

/** The one error an append rejects with: the call it audits must fail closed. */
export function auditUnavailable(cause?: unknown): KeyholdError {
  return new KeyholdError("AUDIT_UNAVAILABLE", "audit log unavailable", cause === undefined ? {} : { cause });
}

const closed = (state: string) => new OutboxWriterError({ code: "CLOSED", message: `outbox is ${state}` });

const WRITER_URL = new URL("./outbox-writer.ts", import.meta.url);

export class Outbox implements AuditSink {
  /** Opens (creating when missing) the outbox file; rejects with AUDIT_UNAVAILABLE when it cannot. */
  static async open(options: OutboxOptions): Promise<Outbox> {
    const config: WriterConfig = { path: options.path, service: options.service };
    const worker = new Worker(WRITER_URL, { workerData: config, name: "keyhold-audit-outbox" });
    const ready = await new Promise<{ source: string; lastSequence: number }>((resolve, reject) => {
      const onMessage = (reply: WriterReply) => {
        cleanup();
        if (reply.type === "ready") resolve({ source: reply.source, lastSequence: reply.lastSequence });
        else if (reply.type === "open-failed") reject(auditUnavailable(new OutboxWriterError(reply.failure)));
        else reject(auditUnavailable(new OutboxWriterError({ code: "PROTOCOL", message: "unexpected first message from the outbox writer" })));
      };
      const onError = (error: Error) => {
        cleanup();
        reject(auditUnavailable(new OutboxWriterError({ code: error.name, message: error.message })));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(auditUnavailable(new OutboxWriterError({ code: "WRITER_EXIT", message: `outbox writer exited with ${code}` })));
      };
      const cleanup = () => {
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    return new Outbox(worker, options, ready.source, ready.lastSequence);
  }

  /** This outbox's stable id at audit-service: `<service>-<random>`, created with the file. */
  readonly source: string;
  private readonly worker: Worker;
  private readonly maxBatchEvents: number;
  private readonly onHealthChange: OutboxOptions["onHealthChange"];
  private readonly probeIntervalMs: number;
  private probeTimer: NodeJS.Timeout | undefined;
  private state: "open" | "closing" | "closed" | "failed" = "open";
  private isHealthy = true;
  private committedThrough: number;
  private nextId = 1;
  private readonly requests = new Map<number, Pending>();
  // The group being collected while a commit is in flight.
  private queuedEvents: Uint8Array[] = [];
  private queuedWaiters: Waiter[] = [];
  private queuedDeleteThrough = 0;
  private deleteWaiters: Waiter[] = [];
  private committing = false;
  private flushScheduled = false;
  private deleteTimer: NodeJS.Timeout | undefined;
  private readonly deleteDelayMs: number;
  private drained: (() => void) | undefined;
  private closeSent = false;
  private closing: Promise<void> | undefined;
  private readonly appendWatchers = new Set<{ after: number; wake(): void }>();

  private constructor(worker: Worker, options: OutboxOptions, source: string, lastSequence: number) {
    this.worker = worker;
    this.source = source;
    this.committedThrough = lastSequence;
    this.maxBatchEvents = options.maxBatchEvents ?? 4096;
    this.onHealthChange = options.onHealthChange;
    this.probeIntervalMs = options.probeIntervalMs ?? 5000;
    this.deleteDelayMs = options.deleteDelayMs ?? 1000;
    worker.unref();
    worker.on("message", (reply: WriterReply) => this.onReply(reply));
    worker.on("error", (error: Error) => this.fail({ code: error.name, message: error.message }));
    worker.on("exit", (code: number) => {
      if (this.state !== "closed" && !this.closeSent) this.fail({ code: "WRITER_EXIT", message: `outbox writer exited with ${code}` });
    });
  }

  /** False after a commit failed, until one succeeds again (or for good once the writer died). */
  get healthy(): boolean {
    return this.isHealthy && (this.state === "open" || this.state === "closing");
  }

  /** The highest sequence durably committed so far. */
  get lastSequence(): number {
    return this.committedThrough;
  }

  /** Resolves once `event` (encoded) is committed and fsynced; rejects with AUDIT_UNAVAILABLE otherwise. */
  append(event: Uint8Array): Promise<void> {
    if (this.state !== "open") return Promise.reject(auditUnavailable(closed(this.state)));
    return new Promise<void>((resolve, reject) => {
      this.queuedEvents.push(event);
      this.queuedWaiters.push({ resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Deletes the rows up to and including `through` (acknowledged by audit-service). The deletion
   * rides with the next append's commit, or, when none comes within deleteDelayMs, commits on its
   * own (close commits it at once): an idle service pays no extra fsync per shipped batch, and a
   * busy one none at all.
   */
  acknowledge(through: number): Promise<void> {
    if (this.state === "closed" || this.state === "failed") {
      return Promise.reject(auditUnavailable(closed(this.state)));
    }
    return new Promise<void>((resolve, reject) => {
      this.queuedDeleteThrough = Math.max(this.queuedDeleteThrough, through);
      this.deleteWaiters.push({ resolve, reject });
      if (this.deleteTimer === undefined && !this.committing && this.queuedWaiters.length === 0) {
        // Not unref'd: a caller awaiting this deletion keeps the process alive until it is done.
        this.deleteTimer = setTimeout(() => {
          this.deleteTimer = undefined;
          this.flush(true);
        }, this.deleteDelayMs);
      }
    });
  }

  /**
   * Up to `limit` rows after sequence `after`, in order, and the last committed sequence then.
   * withSourceFields: each event with its source and sequence appended (by the writer thread), as
   * AppendEvents carries it.
   */
  async read(after: number, limit: number, options: { readonly withSourceFields?: boolean } = {}): Promise<{ rows: readonly OutboxRow[]; lastSequence: number }> {
    const result = await this.request({ type: "read", id: 0, after, limit, withSourceFields: options.withSourceFields ?? false });
    if (result.kind !== "read") throw new Error("outbox writer answered out of order");
    const events = unpackEvents(result.events);
    const rows = events.map((event, i): OutboxRow => ({ sequence: result.sequences[i]!, event }));
    return { rows, lastSequence: result.lastSequence };
  }

  /** Rows after `after` still in the file, the oldest one's age, and the writer's counters. */
  async stats(after = 0): Promise<OutboxStats> {
    const result = await this.request({ type: "stats", id: 0, after });
    if (result.kind !== "stats") throw new Error("outbox writer answered out of order");
    return { ...result.stats, source: this.source, healthy: this.healthy };
  }

  /** Resolves once a sequence after `after` is committed, or when `signal` aborts. */
  whenAppended(after: number, signal?: AbortSignal): Promise<void> {
    if (this.committedThrough > after || signal?.aborted === true || this.state === "closed" || this.state === "failed") {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const watcher = {
        after,
        wake: () => {
          this.appendWatchers.delete(watcher);
          signal?.removeEventListener("abort", watcher.wake);
          resolve();
        },
      };
      this.appendWatchers.add(watcher);
      signal?.addEventListener("abort", watcher.wake, { once: true });
    });
  }

  /** Tries a small write now; resolves whether it succeeded (and updates health accordingly). */
  async probe(): Promise<boolean> {
    try {
      await this.request({ type: "probe", id: 0 });
      this.setHealthy(true, undefined);
      return true;
    } catch (error) {
      if (error instanceof OutboxWriterError && error.code !== "CLOSED") this.setHealthy(false, error);
      return false;
    }
  }

  /** Commits what is queued, then closes the file and ends the writer thread. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    if (this.state !== "open") return;
    this.state = "closing";
    if (this.committing || this.queuedWaiters.length > 0 || this.deleteWaiters.length > 0) {
      const drained = new Promise<void>((resolve) => {
        this.drained = resolve;
      });
      this.flush(true);
      await drained;
    }
    if (this.state !== "closing") return; // the writer died meanwhile
    clearInterval(this.probeTimer);
    this.closeSent = true;
    await this.request({ type: "close", id: 0 }).catch(() => undefined);
    this.state = "closed";
    this.wakeWatchers(true);
    await this.worker.terminate();
  }

  /**
   * Flushes once the current turn of the event loop is done, so every append of that turn (one
   * socket read often carries many calls) shares one commit and one message to the writer.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.committing) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Commits what is queued; deletions alone only when `deletions` (their timer, or close). */
  private flush(deletions = false): void {
    if (this.committing || this.state === "closed" || this.state === "failed") return;
    if (this.queuedWaiters.length === 0 && this.deleteWaiters.length === 0) {
      this.drained?.();
      this.drained = undefined;
      return;
    }
    if (this.queuedWaiters.length === 0 && !deletions && this.state === "open") {
      if (this.deleteTimer === undefined) {
        this.deleteTimer = setTimeout(() => {
          this.deleteTimer = undefined;
          this.flush(true);
        }, this.deleteDelayMs);
      }
      return;
    }
    clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    const count = Math.min(this.queuedEvents.length, this.maxBatchEvents);
    const events = this.queuedEvents.splice(0, count);
    const waiters = this.queuedWaiters.splice(0, count);
    const deleteThrough = this.queuedDeleteThrough;
    const deleteWaiters = this.deleteWaiters;
    this.queuedDeleteThrough = 0;
    this.deleteWaiters = [];
    this.committing = true;
    this.request({ type: "commit", id: 0, events: packEvents(events), deleteThrough }).then(
      (result) => {
        this.committing = false;
        if (result.kind === "commit") this.committedThrough = result.lastSequence;
        this.setHealthy(true, undefined);
        for (const waiter of waiters) waiter.resolve();
        for (const waiter of deleteWaiters) waiter.resolve();
        this.wakeWatchers(false);
        this.flush();
      },
      (cause: OutboxWriterError) => {
        this.committing = false;
        this.setHealthy(false, cause);
        const error = auditUnavailable(cause);
        for (const waiter of waiters) waiter.reject(error);
        for (const waiter of deleteWaiters) waiter.reject(error);
        this.flush();
      },
    );
  }

  private request(request: WriterRequest): Promise<WriterResult> {
    if (this.state === "closed" || this.state === "failed") {
      return Promise.reject(closed(this.state));
    }
    const id = this.nextId++;
    return new Promise<WriterResult>((resolve, reject) => {
      if (this.requests.size === 0) this.worker.ref();
      this.requests.set(id, { resolve, reject });
      const message = { ...request, id };
      this.worker.postMessage(message, message.type === "commit" ? [message.events.bytes.buffer as ArrayBuffer, message.events.lengths.buffer as ArrayBuffer] : []);
    });
  }

  private onReply(reply: WriterReply): void {
    if (reply.type !== "reply") return;
    const pending = this.requests.get(reply.id);
    if (pending === undefined) return;
    this.requests.delete(reply.id);
    if (this.requests.size === 0) this.worker.unref();
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(new OutboxWriterError(reply.failure));
  }

  private setHealthy(healthy: boolean, cause: Error | undefined): void {
    if (this.isHealthy === healthy) return;
    this.isHealthy = healthy;
    if (healthy) {
      clearInterval(this.probeTimer);
      this.probeTimer = undefined;
    } else if (this.probeTimer === undefined && this.state !== "failed") {
      this.probeTimer = setInterval(() => void this.probe(), this.probeIntervalMs);
      this.probeTimer.unref();
    }
    this.onHealthChange?.(healthy, cause);
  }

  private wakeWatchers(all: boolean): void {
    for (const watcher of [...this.appendWatchers]) if (all || this.committedThrough > watcher.after) watcher.wake();
  }

  /** The writer thread died: everything outstanding and everything after fails closed. */
  private fail(failure: WriterFailure): void {
    if (this.state === "closed" || this.state === "failed") return;
    this.state = "failed";
    clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    const cause = new OutboxWriterError(failure);
    this.setHealthy(false, cause);
    clearInterval(this.probeTimer);
    const error = auditUnavailable(cause);
    for (const pending of this.requests.values()) pending.reject(cause);
    this.requests.clear();
    for (const waiter of [...this.queuedWaiters, ...this.deleteWaiters]) waiter.reject(error);
    this.queuedEvents = [];
    this.queuedWaiters = [];
    this.deleteWaiters = [];
    this.wakeWatchers(true);
    this.drained?.();
    this.worker.unref();
  }
}
