import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { KeyholdError, createSilentLogger } from "@keyhold/server-kit";
import { initializeSeal, NOT_SEALABLE, readSealFile, SealedRootKeyProvider, writeSealFile } from "./sealed-root-key.ts";

const aad = Buffer.from("aad");
const reason = (r: string) => (error: unknown) => error instanceof KeyholdError && error.reason === r;
const badShare = (error: unknown) => error instanceof KeyholdError && error.reason === "INVALID_ARGUMENT" && error.field === "share";

async function sealed(n = 5, t = 3) {
  const dir = await mkdtemp(join(tmpdir(), "keyhold-seal-"));
  const file = join(dir, "seal.json");
  const { contents, shares } = initializeSeal(n, t);
  await writeSealFile(file, contents);
  const provider = await SealedRootKeyProvider.open(file, createSilentLogger());
  return { dir, file, shares, provider, done: () => rm(dir, { recursive: true, force: true }) };
}

describe("SealedRootKeyProvider", () => {
  test("the seal file is 0600, holds a verifier and no key; a second init refuses to overwrite it", async () => {
    const s = await sealed();
    try {
      assert.equal((await stat(s.file)).mode & 0o777, 0o600);
      const contents = await readSealFile(s.file);
      assert.deepEqual([contents.shares, contents.threshold], [5, 3]);
      await assert.rejects(writeSealFile(s.file, contents), /EEXIST/);
    } finally {
      await s.done();
    }
  });

  test("wrap and unwrap answer SEALED until t shares are given; then they work; seal() zeroes and notifies", async () => {
    const s = await sealed();
    try {
      await assert.rejects(s.provider.wrap(Buffer.alloc(32, 1), aad), reason("SEALED"));
      await assert.rejects(s.provider.unwrap(Buffer.alloc(40), aad), reason("SEALED"));
      assert.equal(s.provider.submitShare(s.shares[2]!).progress, 1);
      assert.equal(s.provider.submitShare(s.shares[2]!).progress, 1);
      assert.equal(s.provider.submitShare(s.shares[0]!).progress, 2);
      await assert.rejects(s.provider.wrap(Buffer.alloc(32, 1), aad), reason("SEALED"));
      const open = s.provider.submitShare(s.shares[4]!);
      assert.deepEqual(open, { sealable: true, sealed: false, threshold: 3, shares: 5, progress: 0 });
      const wrapped = await s.provider.wrap(Buffer.alloc(32, 7), aad);
      assert.deepEqual(await s.provider.unwrap(wrapped, aad), Buffer.alloc(32, 7));
      let notified = 0;
      s.provider.onSeal(() => notified++);
      assert.equal(s.provider.seal().sealed, true);
      assert.equal(notified, 1);
      await assert.rejects(s.provider.unwrap(wrapped, aad), reason("SEALED"));
      for (const share of [s.shares[1]!, s.shares[3]!, s.shares[0]!]) s.provider.submitShare(share);
      assert.deepEqual(await s.provider.unwrap(wrapped, aad), Buffer.alloc(32, 7));
    } finally {
      await s.done();
    }
  });

  test("shares of another seal, malformed shares and a different share at a given index are refused without progress", async () => {
    const s = await sealed();
    const other = await sealed();
    try {
      s.provider.submitShare(s.shares[0]!);
      assert.throws(() => s.provider.submitShare(other.shares[1]!), badShare);
      assert.throws(() => s.provider.submitShare("khs1-AAAA"), badShare);
      assert.throws(() => s.provider.submitShare("nonsense"), badShare);
      assert.equal(s.provider.status().progress, 1);
      assert.equal(s.provider.resetProgress().progress, 0);
    } finally {
      await s.done();
      await other.done();
    }
  });

  test("close() makes it unusable", async () => {
    const s = await sealed(2, 2);
    try {
      s.provider.submitShare(s.shares[0]!);
      s.provider.submitShare(s.shares[1]!);
      await s.provider.close();
      await assert.rejects(s.provider.wrap(Buffer.alloc(32, 1), aad), reason("INTERNAL"));
    } finally {
      await s.done();
    }
  });

  test("a missing seal file fails the start", async () => {
    await assert.rejects(SealedRootKeyProvider.open(join(tmpdir(), "no-such-dir-keyhold", "seal.json"), createSilentLogger()), /keyhold seal init/);
  });

  test("NOT_SEALABLE reports not sealable and refuses the rest", async () => {
    assert.equal(NOT_SEALABLE.status().sealable, false);
    assert.throws(() => NOT_SEALABLE.submitShare("x"), reason("UNSUPPORTED_OPERATION"));
    assert.throws(() => NOT_SEALABLE.seal(), reason("UNSUPPORTED_OPERATION"));
  });
});
