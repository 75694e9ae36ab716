#!/usr/bin/env node
// Offline verification of an audit export, with nothing but the export and the public key:
//   node services/audit-service/src/verify-cli.ts export.jsonl --public-key key.pem \
//        [--trusted-checkpoint checkpoint.json ...]
// Exit 0 and "ok: N records, checkpoint size S" when every record, hash, the Merkle root and the
// checkpoint signature check out; exit 1 and the first problem otherwise; exit 2 on bad usage.
// A trusted checkpoint (a Checkpoint as protobuf JSON, or a GetCheckpoint answer or export last
// line holding one under "checkpoint") obtained earlier proves the export is no fork of it.
import { readFileSync } from "node:fs";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { CheckpointSchema } from "@keyhold/proto";
import { checkpointFromProto, parsePublicKey, type SignedCheckpoint } from "./domain/checkpoint.ts";
import { verifyExport } from "./domain/export.ts";

const USAGE = "usage: verify-cli.ts <export.jsonl> --public-key <key.pem> [--trusted-checkpoint <checkpoint.json>]...";

class UsageError extends Error {}

function readTrusted(path: string): SignedCheckpoint {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    throw new UsageError(`${path}: not a JSON file`);
  }
  const inner = typeof json === "object" && json !== null && "checkpoint" in json ? json.checkpoint : json;
  try {
    return checkpointFromProto(fromJson(CheckpointSchema, inner as JsonValue));
  } catch (error) {
    throw new UsageError(`${path}: not a checkpoint (${error instanceof Error ? error.message : "unreadable"})`);
  }
}

function main(argv: readonly string[]): number {
  let exportPath: string | undefined;
  let keyPath: string | undefined;
  const trustedPaths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--public-key") keyPath = argv[++i];
    else if (arg === "--trusted-checkpoint") {
      const path = argv[++i];
      if (path === undefined) throw new UsageError(USAGE);
      trustedPaths.push(path);
    } else if (arg === "-h" || arg === "--help") {
      process.stdout.write(USAGE + "\n");
      return 0;
    } else if (arg.startsWith("-") || exportPath !== undefined) throw new UsageError(`unexpected argument ${arg}\n${USAGE}`);
    else exportPath = arg;
  }
  if (exportPath === undefined || keyPath === undefined) throw new UsageError(USAGE);
  let pem: string;
  let text: string;
  try {
    pem = readFileSync(keyPath, "utf8");
  } catch {
    throw new UsageError(`${keyPath}: cannot be read`);
  }
  const publicKey = parsePublicKey(pem);
  if (publicKey === undefined) throw new UsageError(`${keyPath}: not an Ed25519 public key (PEM SubjectPublicKeyInfo)`);
  try {
    text = readFileSync(exportPath, "utf8");
  } catch {
    throw new UsageError(`${exportPath}: cannot be read`);
  }
  const result = verifyExport(text, publicKey, trustedPaths.map(readTrusted));
  if (!result.ok) {
    process.stdout.write(`FAILED: ${result.problem?.message ?? "unknown problem"}\n`);
    return 1;
  }
  const hashOnly = result.withheld === 0 ? "" : ` (${result.withheld} of them other accounts' or outside the range: checked by hash only)`;
  process.stdout.write(`ok: ${result.records} records, checkpoint size ${result.checkpointSize ?? 0}${hashOnly}\n`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(error.message + "\n");
  process.exitCode = 2;
}
