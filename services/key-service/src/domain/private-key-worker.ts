// A worker thread of PrivateKeyPool: runs one private-key operation per message, so RSA and
// other slow private-key work never blocks the service's event loop. Private key bytes arrive
// as a copy and are zeroed when the operation is done.
import { parentPort } from "node:worker_threads";
import { generateKeyPair, oaepDecrypt, sign, verify } from "./asymmetric-engine.ts";
import type { WorkerReply, WorkerTask } from "./private-key-pool.ts";

const port = parentPort;
if (port === null) throw new Error("private-key-worker must run in a worker thread");

port.on("message", (task: WorkerTask) => {
  let reply: WorkerReply;
  try {
    let result: Uint8Array[];
    switch (task.op) {
      case "generate": {
        const pair = generateKeyPair(task.spec);
        result = [pair.privateKey, pair.publicKey];
        break;
      }
      case "sign":
        result = [sign(task.privateKey, task.scheme, task.data, task.digest)];
        break;
      case "verify":
        result = [Uint8Array.of(verify(task.publicKey, task.scheme, task.data, task.digest, task.signature) ? 1 : 0)];
        break;
      case "decrypt":
        result = [oaepDecrypt(task.privateKey, task.hash, task.ciphertext)];
        break;
    }
    // Fresh buffers (Node may slice results from a shared pool) that can be transferred; the
    // originals are zeroed.
    reply = {
      id: task.id,
      ok: true,
      result: result.map((r) => {
        const copy = new Uint8Array(r.byteLength);
        copy.set(r);
        r.fill(0);
        return copy;
      }),
    };
  } catch (error) {
    reply = { id: task.id, ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    if (task.op === "sign" || task.op === "decrypt") task.privateKey.fill(0);
  }
  const transfer = reply.ok ? reply.result.map((r) => r.buffer as ArrayBuffer) : [];
  port.postMessage(reply, transfer);
});
