// The LogWriter of a running audit-service: a proxy to the log writer thread, which owns the
// write connection to the log database. The event loop only packs each batch's encoded events
// into one transferred buffer; decoding, validation, hashing, inserts and fsyncs happen there.
// If the thread dies, every pending and later request fails with AUDIT_UNAVAILABLE (shippers keep
// their outboxes and retry; nothing is lost).
import { Worker } from "node:worker_threads";
import { packEvents } from "@keyhold/audit-client";
import { KeyholdError } from "@keyhold/server-kit";
import type { StoredCheckpoint } from "../store/audit-store.ts";
import type { DraftOutcome, LogWriter, PruneOutcome } from "../domain/log-writer.ts";
import { fromWireError, reviveDraftOutcome, type WriterReply, type WriterRequest, type WriterThreadConfig } from "./protocol.ts";
import type { PriorityOutcome } from "./thread-priority.ts";

const THREAD_URL = new URL("./log-writer-thread.ts", import.meta.url);

type RequestBody = WriterRequest extends infer R ? (R extends WriterRequest ? Omit<R, "id"> : never) : never;

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

function writerGone(why: string): KeyholdError {
  return new KeyholdError("AUDIT_UNAVAILABLE", "audit log unavailable", { cause: new Error(`log writer thread: ${why}`) });
}

export class WorkerLogWriter implements LogWriter {
  /** Starts the thread on an existing (migrated) database; rejects when it cannot open it. */
  static async start(config: WriterThreadConfig): Promise<WorkerLogWriter> {
    const worker = new Worker(THREAD_URL, { workerData: config, name: "keyhold-audit-log-writer" });
    const priority = await new Promise<PriorityOutcome>((resolve, reject) => {
      const onMessage = (reply: WriterReply) => {
        cleanup();
        if (reply.type === "ready") resolve(reply.priority);
        else reject(new Error(`audit log writer: ${reply.type === "open-failed" ? reply.message : "unexpected first message"}`));
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`audit log writer exited with ${code} while starting`));
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
    return new WorkerLogWriter(worker, priority);
  }

  /** Whether the thread runs at the configured lower priority (and if not, why). */
  readonly priority: PriorityOutcome;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: string | undefined;
  private closing: Promise<void> | undefined;

  private constructor(worker: Worker, priority: PriorityOutcome) {
    this.worker = worker;
    this.priority = priority;
    worker.unref();
    worker.on("message", (reply: WriterReply) => this.onReply(reply));
    worker.on("error", (error: Error) => this.fail(`${error.name}: ${error.message}`));
    worker.on("exit", (code: number) => this.fail(`exited with ${code}`));
  }

  append(source: string, events: readonly Uint8Array[], appendedAt: number): Promise<bigint> {
    return this.request({ op: "append", source, events: packEvents(events), appendedAt }) as Promise<bigint>;
  }

  async draftCheckpoint(): Promise<DraftOutcome> {
    return reviveDraftOutcome((await this.request({ op: "draft" })) as DraftOutcome);
  }

  async putCheckpoint(checkpoint: StoredCheckpoint, previousSize: number | null): Promise<void> {
    await this.request({ op: "put", checkpoint, previousSize });
  }

  prune(cutoffSeconds: bigint): Promise<PruneOutcome> {
    return this.request({ op: "prune", cutoffSeconds }) as Promise<PruneOutcome>;
  }

  async halt(problem: string): Promise<void> {
    await this.request({ op: "halt", problem });
  }

  /** Waits for the requests sent so far, closes the connection and ends the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.failure === undefined) await this.request({ op: "close" }).catch(() => undefined);
      this.failure ??= "closed";
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private request(body: RequestBody): Promise<unknown> {
    if (this.failure !== undefined) return Promise.reject(writerGone(this.failure));
    const id = this.nextId++;
    const message = { ...body, id } as WriterRequest;
    return new Promise<unknown>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      const transfer = message.op === "append" ? [message.events.bytes.buffer as ArrayBuffer, message.events.lengths.buffer as ArrayBuffer] : [];
      this.worker.postMessage(message, transfer);
    });
  }

  private onReply(reply: WriterReply): void {
    if (reply.type !== "reply") return;
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(fromWireError(reply.error));
  }

  private fail(why: string): void {
    if (this.failure !== undefined) return;
    this.failure = why;
    const error = writerGone(why);
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    this.worker.unref();
  }
}
