// ExportEvents and the offline verifier (verify-cli.ts, run as a separate process with only the
// export file and the public key).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { toJson } from "@bufbuild/protobuf";
import { CheckpointSchema } from "@keyhold/proto";
import { verifyExport } from "../domain/export.ts";
import {
  ACCOUNT,
  batch,
  exportText,
  invalid,
  MANAGEMENT_ACCOUNT,
  OTHER_ACCOUNT,
  refusal,
  SOURCE,
  startTestAuditService,
  type TestAuditService,
} from "../test-support.ts";

const CLI = fileURLToPath(new URL("../verify-cli.ts", import.meta.url));

describe("ExportEvents and the offline verifier", () => {
  let service: TestAuditService;
  let keyFile: string;
  let n = 0;
  before(async () => {
    service = await startTestAuditService();
    await service.ingest.appendEvents({ source: SOURCE, events: [...batch(1, 6), ...batch(7, 10, { accountId: OTHER_ACCOUNT }), ...batch(11, 13)] });
    keyFile = join(service.dir, "checkpoint-public.pem");
    writeFileSync(keyFile, service.app.context.signer.publicKeyPem);
  });
  after(() => service.close());

  function verifyFile(text: string, ...extra: string[]): { status: number | null; out: string } {
    const file = join(service.dir, `export-${n++}.jsonl`);
    writeFileSync(file, text);
    const run = spawnSync(process.execPath, [CLI, file, "--public-key", keyFile, ...extra], { encoding: "utf8" });
    return { status: run.status, out: (run.stdout + run.stderr).trim() };
  }

  /** The same check in-process (what the CLI prints after "FAILED: "). */
  function problemOf(text: string): string | undefined {
    return verifyExport(text, service.app.context.log.publicKey).problem?.message;
  }

  const lines = (text: string) => text.trimEnd().split("\n");
  const join_ = (parts: string[]) => parts.join("\n") + "\n";

  test("the management account's export of the whole log verifies offline; it ends with a fresh checkpoint", async () => {
    const text = await exportText(service.as(MANAGEMENT_ACCOUNT).exportEvents({}));
    const all = lines(text);
    assert.equal(all.length, 1 + 13 + 1);
    assert.deepEqual(JSON.parse(all[0]!), { export: "keyhold-audit v1", start_index: 0, previous_chain_hash: "0".repeat(64), frontier: [] });
    const record = JSON.parse(all[1]!);
    assert.deepEqual(Object.keys(record), ["index", "event", "leaf_hash", "chain_hash"]);
    assert.equal(record.event.action, "kms:Encrypt");
    const last = JSON.parse(all[14]!);
    assert.equal(last.checkpoint.treeSize, "13");
    assert.equal(last.public_key_pem, service.app.context.signer.publicKeyPem);
    assert.deepEqual(verifyFile(text), { status: 0, out: "ok: 13 records, checkpoint size 13" });
  });

  test("a tampered export names the record", async () => {
    const all = lines(await exportText(service.as(MANAGEMENT_ACCOUNT).exportEvents({})));
    const changed = [...all];
    changed[6] = changed[6]!.replace('"kms:Encrypt"', '"kms:Decrypt"');
    assert.deepEqual(verifyFile(join_(changed)), { status: 1, out: "FAILED: record 5: leaf hash does not match the event (changed record)" });

    const deleted = all.filter((_, i) => i !== 6);
    assert.equal(problemOf(join_(deleted)), "record 5: missing (expected index 5, found 6: deleted or reordered record)");

    const swapped = [...all];
    [swapped[6], swapped[7]] = [swapped[7]!, swapped[6]!];
    assert.equal(problemOf(join_(swapped)), "record 5: missing (expected index 5, found 6: deleted or reordered record)");

    // Swapped with their indexes swapped back: the chain breaks at the first.
    const renumbered = [...swapped];
    renumbered[6] = renumbered[6]!.replace('"index":6', '"index":5');
    renumbered[7] = renumbered[7]!.replace('"index":5', '"index":6');
    assert.equal(problemOf(join_(renumbered)), "record 5: chain hash mismatch (changed, deleted or reordered record)");

    const truncated = [...all.slice(0, 10), all[all.length - 1]!];
    assert.equal(problemOf(join_(truncated)), "checkpoint size 13 but only 9 records");

    const noCheckpoint = all.slice(0, -1);
    assert.equal(problemOf(join_(noCheckpoint)), `line 14: the export must end with the checkpoint line (truncated export?)`);

    const badJson = [...all];
    badJson[3] = badJson[3]!.slice(0, 20);
    assert.equal(problemOf(join_(badJson)), "line 4: not valid JSON");
  });

  test("an export checked against another key is rejected", async () => {
    const text = await exportText(service.as(MANAGEMENT_ACCOUNT).exportEvents({}));
    const otherKey = join(service.dir, "other.pem");
    writeFileSync(otherKey, generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }));
    const run = spawnSync(process.execPath, [CLI, join(service.dir, "e.jsonl"), "--public-key", otherKey], { encoding: "utf8" });
    assert.equal(run.status, 2, "no such export file: usage error");
    writeFileSync(join(service.dir, "e.jsonl"), text);
    const checked = spawnSync(process.execPath, [CLI, join(service.dir, "e.jsonl"), "--public-key", otherKey], { encoding: "utf8" });
    assert.equal(checked.status, 1);
    assert.match(checked.stdout, /^FAILED: checkpoint at size 13: signed by another key \(key id [0-9a-f]{64}, expected [0-9a-f]{64}\)\n$/);
    // A checkpoint line re-signed by someone else (their key id) against the real key: the same.
    const all = lines(text);
    const last = JSON.parse(all[all.length - 1]!);
    last.checkpoint.signature = Buffer.alloc(64, 1).toString("base64");
    all[all.length - 1] = JSON.stringify(last);
    assert.equal(problemOf(join_(all)), "checkpoint at size 13: bad signature");
  });

  test("an account's export shows only its own events; the others are hashes that still verify", async () => {
    const text = await exportText(service.as(ACCOUNT).exportEvents({}));
    const all = lines(text).slice(1, -1).map((l) => JSON.parse(l));
    assert.equal(all.length, 13);
    assert.deepEqual(
      all.filter((r) => r.event === undefined).map((r) => r.index),
      [6, 7, 8, 9],
    );
    assert.ok(!text.includes(OTHER_ACCOUNT));
    assert.deepEqual(verifyFile(text), { status: 0, out: "ok: 13 records, checkpoint size 13 (4 of them other accounts' or outside the range: checked by hash only)" });
    const other = await exportText(service.as(OTHER_ACCOUNT).exportEvents({}));
    assert.ok(!other.includes(`"accountId":"${ACCOUNT}"`));
    assert.equal(verifyFile(other).status, 0);
  });

  test("a range starts from the state before it and runs to a checkpoint; a trusted earlier checkpoint proves no fork", async () => {
    const earlier = await service.as(MANAGEMENT_ACCOUNT).getCheckpoint({});
    await service.ingest.appendEvents({ source: SOURCE, events: batch(14, 20) });
    const text = await exportText(service.as(MANAGEMENT_ACCOUNT).exportEvents({ fromIndex: 4n, toIndex: 8n }));
    const all = lines(text);
    const header = JSON.parse(all[0]!);
    assert.equal(header.start_index, 4);
    assert.equal(header.frontier.length, 1);
    // Records 4..12 (to the checkpoint at 13); 8..12 without events.
    const records = all.slice(1, -1).map((l) => JSON.parse(l));
    assert.deepEqual(
      records.map((r) => [r.index, r.event !== undefined]),
      [4, 5, 6, 7, 8, 9, 10, 11, 12].map((i) => [i, i < 8]),
    );
    assert.equal(JSON.parse(all[all.length - 1]!).checkpoint.treeSize, "13");
    assert.deepEqual(verifyFile(text), { status: 0, out: "ok: 9 records, checkpoint size 13 (5 of them other accounts' or outside the range: checked by hash only)" });
    // A changed start state is caught by the checkpoint.
    const forgedHeader = { ...header, previous_chain_hash: "1".repeat(64) };
    assert.equal(problemOf(join_([JSON.stringify(forgedHeader), ...all.slice(1)])), "record 4: chain hash mismatch (changed, deleted or reordered record)");
    const forgedFrontier = { ...header, frontier: ["2".repeat(64)] };
    assert.equal(problemOf(join_([JSON.stringify(forgedFrontier), ...all.slice(1)])), "checkpoint at size 13: root does not match records 0..12 (a rewritten or forked log)");

    const trustedFile = join(service.dir, "trusted.json");
    writeFileSync(trustedFile, JSON.stringify({ checkpoint: toJson(CheckpointSchema, earlier.checkpoint!) }));
    const whole = await exportText(service.as(MANAGEMENT_ACCOUNT).exportEvents({}));
    assert.deepEqual(verifyFile(whole, "--trusted-checkpoint", trustedFile), { status: 0, out: "ok: 20 records, checkpoint size 20" });
    assert.equal(JSON.parse(lines(whole).at(-1)!).checkpoint.treeSize, "20", "a fresh checkpoint covers the grown log");
  });

  test("bad input names the field", async () => {
    const client = service.as(ACCOUNT);
    const drain = async (stream: AsyncIterable<unknown>) => {
      for await (const _ of stream) {
        /* refused before the first message */
      }
    };
    assert.deepEqual(await refusal(drain(client.exportEvents({ fromIndex: -1n }))), invalid("from_index"));
    assert.deepEqual(await refusal(drain(client.exportEvents({ toIndex: 1000n }))), invalid("to_index"));
    assert.deepEqual(await refusal(drain(client.exportEvents({ fromIndex: 5n, toIndex: 3n }))), invalid("from_index"));
  });
});
