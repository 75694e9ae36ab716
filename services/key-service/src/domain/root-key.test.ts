import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { KeyholdError, createSilentLogger } from "@keyhold/server-kit";
import type { LogFields, Logger } from "@keyhold/server-kit";
import { LocalFileRootKeyProvider } from "./root-key.ts";

interface Line {
  readonly level: string;
  readonly message: string;
  readonly fields: LogFields | undefined;
}

function recordingLogger(lines: Line[]): Logger {
  const logger: Logger = {
    debug: (message, fields) => lines.push({ level: "debug", message, fields }),
    info: (message, fields) => lines.push({ level: "info", message, fields }),
    warn: (message, fields) => lines.push({ level: "warn", message, fields }),
    error: (message, fields) => lines.push({ level: "error", message, fields }),
    child: () => logger,
  };
  return logger;
}

const mode = async (file: string) => (await fs.stat(file)).mode & 0o777;
const AAD = Buffer.from("key-version:6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b");

describe("LocalFileRootKeyProvider", () => {
  let tmp: string;
  before(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), "keyhold-root-key-"));
  });
  after(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  test("creates the key file on first start: 32 bytes, mode 0600, new parent directory 0700, loud warning", async () => {
    const file = path.join(tmp, "first", "nested", "root.key");
    const lines: Line[] = [];
    const provider = await LocalFileRootKeyProvider.open(file, recordingLogger(lines));
    try {
      assert.equal((await fs.stat(file)).size, 32);
      assert.equal(await mode(file), 0o600);
      assert.equal(await mode(path.dirname(file)), 0o700);
      assert.equal(await mode(path.join(tmp, "first")), 0o700);
      assert.deepEqual(await fs.readdir(path.dirname(file)), ["root.key"]); // no temp file left
      const warnings = lines.filter((line) => line.level === "warn");
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]?.message ?? "", /development only/);
      assert.match(provider.description, /development only/);
    } finally {
      await provider.close();
    }
  });

  test("never logs the key", async () => {
    const file = path.join(tmp, "no-log", "root.key");
    const lines: Line[] = [];
    const provider = await LocalFileRootKeyProvider.open(file, recordingLogger(lines));
    await (await LocalFileRootKeyProvider.open(file, recordingLogger(lines))).close();
    await provider.close();
    const key = await fs.readFile(file);
    const logged = JSON.stringify(lines) + provider.description;
    for (const form of [key.toString("hex"), key.toString("base64"), key.toString("base64url"), key.toString("latin1")]) {
      assert.ok(!logged.includes(form));
    }
  });

  test("reuses the same key across opens", async () => {
    const file = path.join(tmp, "reuse", "root.key");
    const first = await LocalFileRootKeyProvider.open(file, createSilentLogger());
    const before = await fs.readFile(file);
    const wrapped = await first.wrap(Buffer.alloc(32, 7), AAD);
    await first.close();
    const second = await LocalFileRootKeyProvider.open(file, createSilentLogger());
    try {
      assert.deepEqual(await fs.readFile(file), before);
      assert.deepEqual(await second.unwrap(wrapped, AAD), Buffer.alloc(32, 7));
    } finally {
      await second.close();
    }
  });

  test("concurrent first starts agree on one key", async () => {
    const file = path.join(tmp, "race", "root.key");
    const providers = await Promise.all(
      Array.from({ length: 8 }, () => LocalFileRootKeyProvider.open(file, createSilentLogger())),
    );
    try {
      const wrapped = await providers[0]!.wrap(Buffer.from("material"), AAD);
      for (const provider of providers) assert.equal((await provider.unwrap(wrapped, AAD)).toString(), "material");
      assert.deepEqual(await fs.readdir(path.dirname(file)), ["root.key"]);
    } finally {
      for (const provider of providers) await provider.close();
    }
  });

  test("refuses a key file that group or others can access", async () => {
    for (const bad of [0o640, 0o604, 0o660, 0o644, 0o601, 0o610]) {
      const file = path.join(tmp, `perm-${bad.toString(8)}`, "root.key");
      await fs.mkdir(path.dirname(file), { mode: 0o700 });
      await fs.writeFile(file, crypto.randomBytes(32), { mode: 0o600 });
      await fs.chmod(file, bad);
      await assert.rejects(LocalFileRootKeyProvider.open(file, createSilentLogger()), (error: unknown) => {
        assert.ok(error instanceof KeyholdError);
        assert.match(error.message, new RegExp(`mode 0${bad.toString(8)}`));
        assert.match(error.message, /chmod 600/);
        assert.ok(error.message.includes(file));
        return true;
      });
    }
    // Owner-only modes stricter than 0600 are fine.
    const file = path.join(tmp, "perm-400", "root.key");
    await fs.mkdir(path.dirname(file), { mode: 0o700 });
    await fs.writeFile(file, crypto.randomBytes(32), { mode: 0o400 });
    await (await LocalFileRootKeyProvider.open(file, createSilentLogger())).close();
  });

  test("refuses a key file of the wrong size", async () => {
    for (const size of [0, 16, 31, 33, 64]) {
      const file = path.join(tmp, `size-${size}`, "root.key");
      await fs.mkdir(path.dirname(file), { mode: 0o700 });
      await fs.writeFile(file, crypto.randomBytes(size), { mode: 0o600 });
      await assert.rejects(LocalFileRootKeyProvider.open(file, createSilentLogger()), (error: unknown) => {
        assert.ok(error instanceof KeyholdError);
        assert.match(error.message, new RegExp(`is ${size} bytes, expected exactly 32`));
        return true;
      });
      assert.equal((await fs.stat(file)).size, size); // left alone, not overwritten
    }
  });

  test("refuses a directory in place of the key file", async () => {
    const file = path.join(tmp, "dir-instead", "root.key");
    await fs.mkdir(file, { recursive: true, mode: 0o700 });
    await assert.rejects(LocalFileRootKeyProvider.open(file, createSilentLogger()), /not a regular file/);
  });

  describe("wrap and unwrap", () => {
    let provider: LocalFileRootKeyProvider;
    before(async () => {
      provider = await LocalFileRootKeyProvider.open(path.join(tmp, "wrap", "root.key"), createSilentLogger());
    });
    after(async () => {
      await provider.close();
    });

    const unwrapFails = async (wrapped: Uint8Array, aad: Uint8Array, label: string) => {
      await assert.rejects(
        provider.unwrap(wrapped, aad),
        (error: unknown) => {
          assert.ok(error instanceof KeyholdError, label);
          assert.equal(error.reason, "INTERNAL", label);
          assert.equal(error.message, "root key could not unwrap key material", label);
          return true;
        },
        label,
      );
    };

    test("round trip; format 0x01 ‖ IV ‖ body ‖ tag with a fresh IV each time", async () => {
      const material = crypto.randomBytes(32);
      const a = await provider.wrap(material, AAD);
      const b = await provider.wrap(material, AAD);
      assert.equal(a.length, 1 + 12 + 32 + 16);
      assert.equal(a[0], 0x01);
      assert.notDeepEqual(a.subarray(1, 13), b.subarray(1, 13));
      assert.deepEqual(await provider.unwrap(a, AAD), material);
      assert.deepEqual(await provider.unwrap(b, AAD), material);
      assert.deepEqual(await provider.unwrap(await provider.wrap(new Uint8Array(0), new Uint8Array(0)), Buffer.alloc(0)), Buffer.alloc(0));
    });

    test("a tampered, truncated or extended wrapped key fails", async () => {
      const wrapped = await provider.wrap(crypto.randomBytes(32), AAD);
      for (let i = 0; i < wrapped.length; i++) {
        const tampered = Buffer.from(wrapped);
        tampered[i] = (tampered[i] as number) ^ 0x01;
        await unwrapFails(tampered, AAD, `byte ${i}`);
      }
      for (const length of [0, 1, 13, 28, 29, wrapped.length - 1]) {
        await unwrapFails(wrapped.subarray(0, length), AAD, `length ${length}`);
      }
      await unwrapFails(Buffer.concat([wrapped, Buffer.of(0)]), AAD, "extended");
    });

    test("the AAD is bound", async () => {
      const wrapped = await provider.wrap(crypto.randomBytes(32), AAD);
      await unwrapFails(wrapped, Buffer.from("key-version:other"), "other aad");
      await unwrapFails(wrapped, Buffer.alloc(0), "empty aad");
    });

    test("another root key cannot unwrap", async () => {
      const other = await LocalFileRootKeyProvider.open(path.join(tmp, "wrap-other", "root.key"), createSilentLogger());
      try {
        await unwrapFails(await other.wrap(crypto.randomBytes(32), AAD), AAD, "other root key");
      } finally {
        await other.close();
      }
    });
  });

  test("close() makes the provider unusable", async () => {
    const provider = await LocalFileRootKeyProvider.open(path.join(tmp, "close", "root.key"), createSilentLogger());
    const wrapped = await provider.wrap(Buffer.from("x"), AAD);
    await provider.close();
    await assert.rejects(provider.wrap(Buffer.from("x"), AAD), /closed/);
    await assert.rejects(provider.unwrap(wrapped, AAD), /closed/);
  });
});
