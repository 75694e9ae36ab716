// A fixed pool of worker threads for private-key operations (key pair generation, signing,
// RSA decryption, and the one slow public-key operation: ECDSA verification of a digest): the event loop only posts a task and awaits its answer, so other calls keep
// their latency while RSA signing runs. Workers start on first use; a worker that dies is
// replaced and its task fails.
import { Worker } from "node:worker_threads";
import { KeyholdError } from "@keyhold/server-kit";
import type { HashName, KeyPairSpec, SignScheme } from "./asymmetric-engine.ts";

export type WorkerTask =
  | { readonly id: number; readonly op: "generate"; readonly spec: KeyPairSpec }
  | { readonly id: number; readonly op: "sign"; readonly privateKey: Uint8Array; readonly scheme: SignScheme; readonly data: Uint8Array; readonly digest: boolean }
  | { readonly id: number; readonly op: "decrypt"; readonly privateKey: Uint8Array; readonly hash: HashName; readonly ciphertext: Uint8Array }
  | {
      readonly id: number;
      readonly op: "verify";
      readonly publicKey: Uint8Array;
      readonly scheme: SignScheme;
      readonly data: Uint8Array;
      readonly digest: boolean;
      readonly signature: Uint8Array;
    };

export type WorkerReply = { readonly id: number; readonly ok: true; readonly result: Uint8Array[] } | { readonly id: number; readonly ok: false; readonly error: string };

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
type Task = DistributiveOmit<WorkerTask, "id">;

interface Pending {
  readonly task: WorkerTask;
  resolve(result: Buffer[]): void;
  reject(error: Error): void;
}

const WORKER_URL = new URL("./private-key-worker.ts", import.meta.url);

/** A failed private-key operation: the cause is logged, never sent. */
export class PrivateKeyOperationError extends Error {
  override readonly name = "PrivateKeyOperationError";
}

export class PrivateKeyPool {
  readonly #size: number;
  readonly #idle: Worker[] = [];
  readonly #busy = new Map<Worker, Pending>();
  readonly #queue: Pending[] = [];
  #started = 0;
  #nextId = 1;
  #closed = false;

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError("PrivateKeyPool size must be a positive integer");
    this.#size = size;
  }

  generateKeyPair(spec: KeyPairSpec): Promise<{ privateKey: Buffer; publicKey: Buffer }> {
    return this.#run({ op: "generate", spec }).then(([privateKey, publicKey]) => ({ privateKey: privateKey!, publicKey: publicKey! }));
  }

  /** `privateKey` is copied synchronously: the caller may zero or release it once this returns. */
  sign(privateKey: Uint8Array, scheme: SignScheme, data: Uint8Array, digest: boolean): Promise<Buffer> {
    return this.#run({ op: "sign", privateKey: Uint8Array.from(privateKey), scheme, data: Uint8Array.from(data), digest }).then(([signature]) => signature!);
  }

  /** `privateKey` is copied synchronously, as in sign(). */
  decrypt(privateKey: Uint8Array, hash: HashName, ciphertext: Uint8Array): Promise<Buffer> {
    return this.#run({ op: "decrypt", privateKey: Uint8Array.from(privateKey), hash, ciphertext: Uint8Array.from(ciphertext) }).then(([plaintext]) => plaintext!);
  }

  /** Signature verification too slow for the event loop (ECDSA over a digest, in JavaScript). */
  verify(publicKey: Uint8Array, scheme: SignScheme, data: Uint8Array, digest: boolean, signature: Uint8Array): Promise<boolean> {
    return this.#run({ op: "verify", publicKey: Uint8Array.from(publicKey), scheme, data: Uint8Array.from(data), digest, signature: Uint8Array.from(signature) }).then(
      ([answer]) => answer![0] === 1,
    );
  }

  /** Stops every worker; queued and running tasks fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const error = new KeyholdError("SERVICE_UNAVAILABLE", "the service is shutting down");
    for (const pending of this.#queue.splice(0)) this.#fail(pending, error);
    const workers = [...this.#idle.splice(0), ...this.#busy.keys()];
    for (const [, pending] of this.#busy) this.#fail(pending, error);
    this.#busy.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }

  #run(task: Task): Promise<Buffer[]> {
    if (this.#closed) return Promise.reject(new KeyholdError("SERVICE_UNAVAILABLE", "the service is shutting down"));
    return new Promise<Buffer[]>((resolve, reject) => {
      this.#queue.push({ task: { ...task, id: this.#nextId++ }, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let worker = this.#idle.pop();
      if (worker === undefined && this.#started < this.#size) worker = this.#spawn();
      if (worker === undefined) return;
      const pending = this.#queue.shift()!;
      this.#busy.set(worker, pending);
      const transfer = pending.task.op === "sign" || pending.task.op === "decrypt" ? [pending.task.privateKey.buffer as ArrayBuffer] : [];
      worker.postMessage(pending.task, transfer);
    }
  }

  #spawn(): Worker {
    const worker = new Worker(WORKER_URL, { name: "keyhold-private-key" });
    this.#started++;
    worker.on("message", (reply: WorkerReply) => {
      const pending = this.#busy.get(worker);
      this.#busy.delete(worker);
      if (!this.#closed) this.#idle.push(worker);
      if (pending !== undefined) {
        if (reply.ok) pending.resolve(reply.result.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength)));
        else pending.reject(new PrivateKeyOperationError(reply.error));
      }
      this.#dispatch();
    });
    const lost = (why: string) => {
      const pending = this.#busy.get(worker);
      this.#busy.delete(worker);
      const idleAt = this.#idle.indexOf(worker);
      if (idleAt >= 0) this.#idle.splice(idleAt, 1);
      this.#started--;
      if (pending !== undefined) this.#fail(pending, new PrivateKeyOperationError(why));
      if (!this.#closed) this.#dispatch();
    };
    worker.on("error", (error) => lost(`private-key worker failed: ${error.message}`));
    worker.on("exit", (code) => {
      if (this.#busy.has(worker) || this.#idle.includes(worker)) lost(`private-key worker exited with ${code}`);
    });
    return worker;
  }

  #fail(pending: Pending, error: Error): void {
    if (pending.task.op === "sign" || pending.task.op === "decrypt") pending.task.privateKey.fill(0);
    pending.reject(error);
  }
}
