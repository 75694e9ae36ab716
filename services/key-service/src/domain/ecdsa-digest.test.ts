// ECDSA over a digest, checked against OpenSSL both ways: our signatures verify with OpenSSL
// (crypto.verify over the message the digest came from, and `openssl pkeyutl -verify` of the
// digest), and OpenSSL's signatures verify with ours.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodeDer, encodeDer, signDigest, verifyDigest } from "./ecdsa-digest.ts";

for (const [curve, hash] of [
  ["prime256v1", "sha256"],
  ["secp384r1", "sha384"],
  ["secp256k1", "sha256"],
] as const) {
  test(`${curve} with ${hash}: interoperable with OpenSSL both ways`, async () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: curve });
    const dir = mkdtempSync(join(tmpdir(), "keyhold-ecdsa-digest-"));
    try {
      for (let i = 0; i < 8; i++) {
        const message = crypto.randomBytes(40);
        const digest = crypto.createHash(hash).update(message).digest();
        const ours = signDigest(privateKey, digest);
        assert.ok(crypto.verify(hash, message, publicKey, ours), "OpenSSL verifies our signature");
        assert.ok(verifyDigest(publicKey, digest, ours), "we verify our signature");
        const theirs = crypto.sign(hash, message, privateKey);
        assert.ok(verifyDigest(publicKey, digest, theirs), "we verify OpenSSL's signature");
        const other = crypto.createHash(hash).update(Buffer.concat([message, Buffer.of(0)])).digest();
        assert.equal(verifyDigest(publicKey, other, theirs), false);
        const [r, s] = decodeDer(theirs)!;
        assert.deepEqual(encodeDer(r, s), theirs);
        assert.equal(verifyDigest(publicKey, digest, encodeDer(r, (s + 1n))), false);
      }
      const digest = crypto.createHash(hash).update("cli").digest();
      const pub = join(dir, "pub.pem");
      const sig = join(dir, "sig");
      const dgst = join(dir, "dgst");
      writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
      writeFileSync(sig, signDigest(privateKey, digest));
      writeFileSync(dgst, digest);
      const out = execFileSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", dgst, "-sigfile", sig], { encoding: "utf8" });
      assert.match(out, /Signature Verified Successfully/);
      assert.ok(readFileSync(sig).length > 60);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("malformed DER is refused, not thrown", async () => {
  const { publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const digest = Buffer.alloc(32, 1);
  for (const bad of [Buffer.alloc(0), Buffer.of(0x30), Buffer.of(0x30, 0x02, 0x02, 0x00), Buffer.alloc(70, 0xff), Buffer.of(0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01)]) {
    assert.equal(verifyDigest(publicKey, digest, bad), false);
  }
});
