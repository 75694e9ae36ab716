// The export format (JSON Lines, UTF-8, one object per line) and its offline verification.
//   1. header:  {"export":"keyhold-audit v1","start_index":m,"previous_chain_hash":"<hex>","frontier":["<hex>",...]}
//               the state just before record m: the chain hash of record m-1 (zeros for m=0)
//               and the Merkle frontier of records [0, m).
//   2. records: {"index":i,"event":{AuditEvent as protobuf JSON},"leaf_hash":"<hex>","chain_hash":"<hex>"}
//               one per record m, m+1, ... up to the checkpoint's tree size; a record the reader
//               may not see (another account's) carries no "event", only its hashes.
//   3. last:    {"checkpoint":{Checkpoint as protobuf JSON},"public_key_pem":"..."}
// The header is not signed: the checkpoint authenticates it, because the final root and chain
// hash are functions of the frontier and chain hash it gives (changing either changes them).
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import type { KeyObject } from "node:crypto";
import { CheckpointSchema } from "@keyhold/proto";
import { checkpointFromProto, checkpointToProto, type SignedCheckpoint } from "./checkpoint.ts";
import { canonicalEventBytes, eventFromJson, eventToJson, decodeEvent } from "./event.ts";
import { LogVerifier, type Problem, type StartState, type VerifiableRecord } from "./verify.ts";

export const EXPORT_FORMAT = "keyhold-audit v1";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

export function headerLine(start: StartState): string {
  return (
    JSON.stringify({
      export: EXPORT_FORMAT,
      start_index: start.index,
      previous_chain_hash: hex(start.chainHash),
      frontier: start.frontier.map(hex),
    }) + "\n"
  );
}

/** One record line; `eventBytes` undefined writes the hashes only. */
export function recordLine(index: number, eventBytes: Uint8Array | undefined, leafHash: Uint8Array, chainHash: Uint8Array): string {
  const line: Record<string, JsonValue> = { index };
  if (eventBytes !== undefined) line["event"] = eventToJson(decodeEvent(eventBytes));
  line["leaf_hash"] = hex(leafHash);
  line["chain_hash"] = hex(chainHash);
  return JSON.stringify(line) + "\n";
}

export function checkpointLine(checkpoint: SignedCheckpoint, publicKeyPem: string): string {
  return JSON.stringify({ checkpoint: toJson(CheckpointSchema, checkpointToProto(checkpoint)), public_key_pem: publicKeyPem }) + "\n";
}

export interface ExportVerification {
  readonly ok: boolean;
  /** Record lines read and verified (with or without event). */
  readonly records: number;
  /** Of those, the ones with no event (hash only). */
  readonly withheld: number;
  readonly checkpointSize: number | undefined;
  readonly problem: Problem | undefined;
}

class ExportFormatError extends Error {}

const HEX32 = /^[0-9a-f]{64}$/;

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ExportFormatError(`${what}: not a JSON object`);
  return value as Record<string, unknown>;
}

function hash(value: unknown, what: string): Buffer {
  if (typeof value !== "string" || !HEX32.test(value)) throw new ExportFormatError(`${what}: must be 64 lower-case hex digits`);
  return Buffer.from(value, "hex");
}

function index(value: unknown, what: string): number {
  const n = typeof value === "string" && /^[0-9]{1,16}$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw new ExportFormatError(`${what}: must be a non-negative integer`);
  return n;
}

function parseHeader(value: unknown): StartState {
  const header = object(value, "line 1");
  if (header["export"] !== EXPORT_FORMAT) throw new ExportFormatError(`line 1: not a Keyhold audit export header ("export": "${EXPORT_FORMAT}")`);
  const frontier = header["frontier"];
  if (!Array.isArray(frontier)) throw new ExportFormatError("line 1: frontier must be a list");
  return {
    index: index(header["start_index"], "line 1: start_index"),
    chainHash: hash(header["previous_chain_hash"], "line 1: previous_chain_hash"),
    frontier: frontier.map((h, i) => hash(h, `line 1: frontier[${i}]`)),
  };
}

function parseRecord(value: Record<string, unknown>, lineNumber: number): VerifiableRecord {
  const at = `line ${lineNumber}`;
  const i = index(value["index"], `${at}: index`);
  let eventBytes: Uint8Array | undefined;
  if (value["event"] !== undefined) {
    try {
      eventBytes = canonicalEventBytes(eventFromJson(value["event"] as JsonValue));
    } catch (error) {
      throw new ExportFormatError(`record ${i}: the event is not an AuditEvent (${error instanceof Error ? error.message : "unreadable"})`);
    }
  }
  return { index: i, eventBytes, leafHash: hash(value["leaf_hash"], `record ${i}: leaf_hash`), chainHash: hash(value["chain_hash"], `record ${i}: chain_hash`) };
}

function parseCheckpoint(value: Record<string, unknown>, lineNumber: number): SignedCheckpoint {
  try {
    return checkpointFromProto(fromJson(CheckpointSchema, value["checkpoint"] as JsonValue));
  } catch (error) {
    throw new ExportFormatError(`line ${lineNumber}: not a checkpoint (${error instanceof Error ? error.message : "unreadable"})`);
  }
}

/**
 * Verifies an export with only the public key the verifier trusts (never the one the file
 * carries) and, optionally, checkpoints obtained earlier (a different root at their size is a fork).
 */
export function verifyExport(text: string, publicKey: KeyObject, trusted: readonly SignedCheckpoint[] = []): ExportVerification {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  let verifier: LogVerifier | undefined;
  let records = 0;
  let checkpointSize: number | undefined;
  const result = (problem: Problem | undefined): ExportVerification => ({
    ok: problem === undefined,
    records,
    withheld: verifier?.withheldRecords ?? 0,
    checkpointSize,
    problem,
  });
  try {
    if (lines.length < 2) throw new ExportFormatError("an export has a header line, record lines and a checkpoint line");
    const parse = (line: string, n: number): Record<string, unknown> => {
      try {
        return object(JSON.parse(line), `line ${n}`);
      } catch (error) {
        if (error instanceof ExportFormatError) throw error;
        throw new ExportFormatError(`line ${n}: not valid JSON`);
      }
    };
    const start = parseHeader(parse(lines[0]!, 1));
    const last = parse(lines[lines.length - 1]!, lines.length);
    if (last["checkpoint"] === undefined) throw new ExportFormatError(`line ${lines.length}: the export must end with the checkpoint line (truncated export?)`);
    const checkpoint = parseCheckpoint(last, lines.length);
    checkpointSize = checkpoint.treeSize;
    try {
      verifier = new LogVerifier(start, { publicKey, checkpoints: [checkpoint], trusted });
    } catch (error) {
      throw new ExportFormatError(`line 1: ${error instanceof Error ? error.message : "bad start state"}`);
    }
    if (verifier.firstProblem !== undefined) return result(verifier.firstProblem);
    for (let n = 2; n < lines.length; n++) {
      const value = parse(lines[n - 1]!, n);
      if (value["checkpoint"] !== undefined) throw new ExportFormatError(`line ${n}: a checkpoint line before the end`);
      let record: VerifiableRecord;
      try {
        record = parseRecord(value, n);
      } catch (error) {
        // A record whose event JSON no longer parses is a changed record.
        if (error instanceof ExportFormatError && error.message.startsWith("record ")) return result({ index: index(value["index"], `line ${n}: index`), message: error.message });
        throw error;
      }
      records++;
      const problem = verifier.push(record);
      if (problem !== undefined) return result(problem);
    }
    return result(verifier.finish());
  } catch (error) {
    if (error instanceof ExportFormatError) return result({ index: -1, message: error.message });
    throw error;
  }
}
