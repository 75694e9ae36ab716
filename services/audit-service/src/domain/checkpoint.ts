// Signed checkpoints: a statement of the log's size, Merkle root and last chain hash, signed
// with Ed25519 over this canonical text (UTF-8, every line ending in \n):
//   keyhold-audit-checkpoint v1
//   <tree_size, decimal>
//   <root hash, 64 lower-case hex digits>
//   <chain hash, 64 lower-case hex digits>
//   <time, RFC 3339 UTC with exactly nine fractional digits, e.g. 2025-06-01T12:00:00.000000000Z>
// The signer is behind CheckpointSigner: this implementation keeps an Ed25519 key in a
// local file (created 0600 on first start); an HSM-held key comes with issue 6.
import * as crypto from "node:crypto";
import * as path from "node:path";
import { create } from "@bufbuild/protobuf";
import { CheckpointSchema, type Checkpoint } from "@keyhold/proto";
import { KeyholdError, readOrCreateSecretFile, type Logger } from "@keyhold/server-kit";
import { isValidTimestamp } from "./event.ts";

export const CHECKPOINT_HEADER = "keyhold-audit-checkpoint v1";

/** A checkpoint as the service keeps it (the proto Checkpoint plus nothing). */
export interface SignedCheckpoint {
  readonly treeSize: number;
  readonly rootHash: Buffer;
  readonly chainHash: Buffer;
  readonly timeSeconds: bigint;
  readonly timeNanos: number;
  /** SHA-256 of the signing key's SubjectPublicKeyInfo (DER), hex. */
  readonly keyId: string;
  readonly signature: Buffer;
}

export type UnsignedCheckpoint = Omit<SignedCheckpoint, "keyId" | "signature">;

export interface CheckpointSigner {
  /** Ed25519 over `bytes`. */
  sign(bytes: Uint8Array): Promise<Buffer>;
  /** PEM SubjectPublicKeyInfo. */
  readonly publicKeyPem: string;
  /** SHA-256 of the SubjectPublicKeyInfo DER, hex. */
  readonly keyId: string;
  close(): Promise<void>;
}

export function checkpointToProto(checkpoint: SignedCheckpoint): Checkpoint {
  return create(CheckpointSchema, {
    treeSize: BigInt(checkpoint.treeSize),
    rootHash: checkpoint.rootHash,
    chainHash: checkpoint.chainHash,
    time: { seconds: checkpoint.timeSeconds, nanos: checkpoint.timeNanos },
    keyId: checkpoint.keyId,
    signature: checkpoint.signature,
  });
}

/** A proto Checkpoint as the verifier checks it; throws on one that cannot be a checkpoint. */
export function checkpointFromProto(message: Checkpoint): SignedCheckpoint {
  if (message.treeSize < 0n || message.treeSize > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("tree_size out of range");
  if (message.rootHash.length !== 32 || message.chainHash.length !== 32) throw new Error("root_hash and chain_hash must be 32 bytes");
  if (message.time === undefined) throw new Error("time is missing");
  return {
    treeSize: Number(message.treeSize),
    rootHash: Buffer.from(message.rootHash),
    chainHash: Buffer.from(message.chainHash),
    timeSeconds: message.time.seconds,
    timeNanos: message.time.nanos,
    keyId: message.keyId,
    signature: Buffer.from(message.signature),
  };
}

/** RFC 3339 UTC with nine fractional digits. */
export function formatCheckpointTime(seconds: bigint, nanos: number): string {
  const iso = new Date(Number(seconds) * 1000).toISOString(); // ....T..:..:..(.000)Z
  const base = iso.slice(0, iso.indexOf("."));
  return `${base}.${nanos.toString().padStart(9, "0")}Z`;
}

export function checkpointText(checkpoint: UnsignedCheckpoint): string {
  if (!Number.isSafeInteger(checkpoint.treeSize) || checkpoint.treeSize < 0) throw new Error("checkpoint: bad tree size");
  if (checkpoint.rootHash.length !== 32 || checkpoint.chainHash.length !== 32) throw new Error("checkpoint: hashes must be 32 bytes");
  if (!isValidTimestamp(checkpoint.timeSeconds, checkpoint.timeNanos)) throw new Error("checkpoint: bad time");
  return [
    CHECKPOINT_HEADER,
    String(checkpoint.treeSize),
    checkpoint.rootHash.toString("hex"),
    checkpoint.chainHash.toString("hex"),
    formatCheckpointTime(checkpoint.timeSeconds, checkpoint.timeNanos),
    "",
  ].join("\n");
}

export async function signCheckpoint(checkpoint: UnsignedCheckpoint, signer: CheckpointSigner): Promise<SignedCheckpoint> {
  const signature = await signer.sign(Buffer.from(checkpointText(checkpoint), "utf8"));
  return { ...checkpoint, keyId: signer.keyId, signature };
}

/** SHA-256 of the key's SubjectPublicKeyInfo DER, hex: what checkpoints name as key_id. */
export function keyIdOf(publicKey: crypto.KeyObject): string {
  return crypto.createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex");
}

/** Parses a PEM public key; undefined when it is not an Ed25519 SubjectPublicKeyInfo. */
export function parsePublicKey(pem: string): crypto.KeyObject | undefined {
  try {
    const key = crypto.createPublicKey({ key: pem, format: "pem" });
    return key.asymmetricKeyType === "ed25519" ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why a checkpoint does not verify with `publicKey`, or undefined when it does: signed by
 * another key (key_id), or a signature that does not match the canonical text.
 */
export function checkpointSignatureProblem(checkpoint: SignedCheckpoint, publicKey: crypto.KeyObject): string | undefined {
  const expected = keyIdOf(publicKey);
  if (checkpoint.keyId !== expected) return `signed by another key (key id ${checkpoint.keyId || "(none)"}, expected ${expected})`;
  let text: string;
  try {
    text = checkpointText(checkpoint);
  } catch (error) {
    return error instanceof Error ? error.message : "malformed";
  }
  let ok = false;
  try {
    ok = crypto.verify(null, Buffer.from(text, "utf8"), publicKey, checkpoint.signature);
  } catch {
    ok = false;
  }
  return ok ? undefined : "bad signature";
}

/**
 * Ed25519 key in a local file (PKCS#8 PEM), created with mode 0600 (directory 0700) on first
 * start. A file group or others may access is refused. For development and single-node use;
 * production keeps the key in the HSM (issue 6).
 */
export class LocalFileCheckpointSigner implements CheckpointSigner {
  readonly publicKeyPem: string;
  readonly keyId: string;
  #privateKey: crypto.KeyObject | undefined;

  private constructor(privateKey: crypto.KeyObject) {
    const publicKey = crypto.createPublicKey(privateKey);
    this.publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString();
    this.keyId = keyIdOf(publicKey);
    this.#privateKey = privateKey;
  }

  static async open(file: string, logger: Logger): Promise<LocalFileCheckpointSigner> {
    const resolved = path.resolve(file);
    const secret = await readOrCreateSecretFile(resolved, {
      what: "checkpoint signing key file",
      maxBytes: 4096,
      generate: () => Buffer.from(crypto.generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" })),
    });
    const pem = secret.bytes.toString("utf8");
    secret.bytes.fill(0);
    if (secret.created) logger.info("created a new checkpoint signing key file", { path: resolved });
    let key: crypto.KeyObject;
    try {
      key = crypto.createPrivateKey({ key: pem, format: "pem" });
    } catch (error) {
      throw new KeyholdError("INTERNAL", `checkpoint signing key file ${resolved} is not a PEM private key`, { cause: error });
    }
    if (key.asymmetricKeyType !== "ed25519") throw new KeyholdError("INTERNAL", `checkpoint signing key file ${resolved} must hold an Ed25519 key`);
    const signer = new LocalFileCheckpointSigner(key);
    logger.warn("checkpoint signing key from a local file: use an HSM-held key in production", { path: resolved, keyId: signer.keyId });
    return signer;
  }

  async sign(bytes: Uint8Array): Promise<Buffer> {
    if (this.#privateKey === undefined) throw new KeyholdError("INTERNAL", "checkpoint signer is closed");
    return crypto.sign(null, bytes, this.#privateKey);
  }

  async close(): Promise<void> {
    this.#privateKey = undefined;
  }
}

