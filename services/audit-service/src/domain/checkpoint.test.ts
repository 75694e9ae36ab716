import assert from "node:assert/strict";
import { generateKeyPairSync, createPublicKey, sign } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createSilentLogger } from "@keyhold/server-kit";
import {
  checkpointFromProto,
  checkpointSignatureProblem,
  checkpointText,
  checkpointToProto,
  formatCheckpointTime,
  keyIdOf,
  LocalFileCheckpointSigner,
  parsePublicKey,
  signCheckpoint,
  type UnsignedCheckpoint,
} from "./checkpoint.ts";
import { EMPTY_ROOT } from "./merkle.ts";

const UNSIGNED: UnsignedCheckpoint = {
  treeSize: 8,
  rootHash: Buffer.from("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328", "hex"),
  chainHash: Buffer.alloc(32, 0xab),
  timeSeconds: 1_748_779_200n,
  timeNanos: 123_000_000,
};

describe("checkpoints", () => {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-audit-checkpoint-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const logger = createSilentLogger();

  test("canonical text", () => {
    assert.equal(
      checkpointText(UNSIGNED),
      "keyhold-audit-checkpoint v1\n8\n5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328\n" +
        "abababababababababababababababababababababababababababababababab\n2025-06-01T12:00:00.123000000Z\n",
    );
    assert.equal(formatCheckpointTime(0n, 0), "1970-01-01T00:00:00.000000000Z");
    assert.equal(formatCheckpointTime(-62_135_596_800n, 999_999_999), "0001-01-01T00:00:00.999999999Z");
    assert.throws(() => checkpointText({ ...UNSIGNED, rootHash: Buffer.alloc(31) }));
    assert.throws(() => checkpointText({ ...UNSIGNED, timeNanos: 1_000_000_000 }));
  });

  test("the local key file is created 0600 in a 0700 directory, and reopened with the same key", async () => {
    const file = join(dir, "keys", "checkpoint.pem");
    const signer = await LocalFileCheckpointSigner.open(file, logger);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "keys")).mode & 0o777, 0o700);
    assert.match(signer.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
    assert.match(signer.keyId, /^[0-9a-f]{64}$/);
    const again = await LocalFileCheckpointSigner.open(file, logger);
    assert.equal(again.keyId, signer.keyId);
    assert.equal(again.publicKeyPem, signer.publicKeyPem);
    assert.ok(!readFileSync(file, "utf8").includes("PUBLIC"), "the file holds the private key only");
  });

  test("a key file others may read, or not an Ed25519 key, is refused", async () => {
    const loose = join(dir, "loose.pem");
    writeFileSync(loose, generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o644 });
    chmodSync(loose, 0o644);
    await assert.rejects(LocalFileCheckpointSigner.open(loose, logger), /group and others must have no access/);
    const rsa = join(dir, "rsa.pem");
    writeFileSync(rsa, generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    await assert.rejects(LocalFileCheckpointSigner.open(rsa, logger), /must hold an Ed25519 key/);
  });

  test("signed checkpoints verify with the signer's key, survive the proto round trip, and fail when changed", async () => {
    const signer = await LocalFileCheckpointSigner.open(join(dir, "sign.pem"), logger);
    const publicKey = parsePublicKey(signer.publicKeyPem)!;
    const signed = await signCheckpoint(UNSIGNED, signer);
    assert.equal(signed.keyId, keyIdOf(publicKey));
    assert.equal(checkpointSignatureProblem(signed, publicKey), undefined);
    const back = checkpointFromProto(checkpointToProto(signed));
    assert.deepEqual(back, signed);
    assert.equal(checkpointSignatureProblem({ ...signed, treeSize: 9 }, publicKey), "bad signature");
    assert.equal(checkpointSignatureProblem({ ...signed, rootHash: EMPTY_ROOT }, publicKey), "bad signature");
    assert.equal(checkpointSignatureProblem({ ...signed, timeNanos: 124_000_000 }, publicKey), "bad signature");
    const flipped = Buffer.from(signed.signature);
    flipped[0]! ^= 1;
    assert.equal(checkpointSignatureProblem({ ...signed, signature: flipped }, publicKey), "bad signature");
  });

  test("a checkpoint signed with another key is rejected, even when it claims the expected key id", async () => {
    const signer = await LocalFileCheckpointSigner.open(join(dir, "mine.pem"), logger);
    const publicKey = parsePublicKey(signer.publicKeyPem)!;
    const other = await LocalFileCheckpointSigner.open(join(dir, "other.pem"), logger);
    const forged = await signCheckpoint(UNSIGNED, other);
    assert.match(checkpointSignatureProblem(forged, publicKey)!, /^signed by another key/);
    assert.equal(checkpointSignatureProblem({ ...forged, keyId: signer.keyId }, publicKey), "bad signature");
  });

  test("the signature is plain Ed25519 over the canonical text", async () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const publicKey = createPublicKey(privateKey);
    const signature = sign(null, Buffer.from(checkpointText(UNSIGNED)), privateKey);
    assert.equal(checkpointSignatureProblem({ ...UNSIGNED, keyId: keyIdOf(publicKey), signature }, publicKey), undefined);
    assert.equal(parsePublicKey("not a key"), undefined);
    assert.equal(parsePublicKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString()), undefined);
  });
});
