// key-service's HSM root key on a real SoftHSMv2 token, through a real hsm-gateway: created on
// first open (and logged), found again after that, sensitive and never extractable (checked
// from outside with pkcs11-tool), AES-256-GCM wrapping in the token that binds the AAD, and a
// wrapped format whose first byte tells it apart from the local key file's.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { RemoteHsmClient } from "@keyhold/hsm-client";
import { createSoftHsmToken, startTestGateway, type SoftHsmToken, type TestGateway } from "@keyhold/hsm-gateway/testing";
import {
  FILE_WRAP_FORMAT, FormatDispatchingRootKeyProvider, HSM_WRAP_FORMAT, HsmRootKeyProvider, isHsmWrapped, LocalFileRootKeyProvider,
  openRootKeyProvider,
} from "@keyhold/key-service";
import { createInMemoryTransport, createJsonLogger, createSilentLogger, KeyholdError, type Logger } from "@keyhold/server-kit";

function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: createJsonLogger({ level: "debug", write: (line) => lines.push(line) }) };
}

async function reasonOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof KeyholdError, `a KeyholdError, got ${String(error)}`);
    return error.reason;
  }
  return assert.fail("expected a refusal");
}

/** The pkcs11-tool --list-objects block of the object labelled `label`. */
function objectBlock(listing: string, label: string): string {
  const blocks = listing.split(/\n(?=\S)/);
  const found = blocks.filter((block) => new RegExp(`label:\\s+${label}\\s*$`, "m").test(block));
  assert.equal(found.length, 1, `one object labelled ${label} in:\n${listing}`);
  return found[0]!;
}

describe("HsmRootKeyProvider on SoftHSMv2", () => {
  let token: SoftHsmToken;
  let gateway: TestGateway;
  let hsm: RemoteHsmClient;
  before(() => {
    token = createSoftHsmToken("keyhold-root");
    gateway = startTestGateway(token);
    hsm = new RemoteHsmClient(createInMemoryTransport(gateway.app.bindings, [], createSilentLogger(), { callingService: "key-service" }));
  });
  after(async () => {
    await gateway.close();
    token.remove();
  });

  test("created in the token on first open (logged), found again afterwards; sensitive and never extractable", async () => {
    const first = recordingLogger();
    const provider = await HsmRootKeyProvider.open(hsm, "root-a", first.logger);
    assert.equal(first.lines.filter((line) => line.includes("created the root key in the HSM")).length, 1);
    assert.equal(provider.description, "HSM key root-a");
    const block = objectBlock(token.listObjects(), "root-a");
    assert.match(block, /Secret Key Object; AES length 32/);
    const access = (/^\s*Access:\s*(.*)$/m.exec(block)?.[1] ?? "").split(/,\s*/);
    assert.ok(access.includes("sensitive") && access.includes("never extractable"), `Access: ${access.join(", ")}`);
    assert.ok(!access.includes("extractable"), "not extractable");
    assert.match(block, /Usage:.*encrypt.*decrypt/);

    const wrapped = await provider.wrap(Buffer.alloc(32, 3), Buffer.from("aad"));
    const second = recordingLogger();
    const again = await HsmRootKeyProvider.open(hsm, "root-a", second.logger);
    assert.equal(second.lines.filter((line) => line.includes("created the root key")).length, 0, "not created twice");
    objectBlock(token.listObjects(), "root-a"); // still exactly one object
    assert.deepEqual(await again.unwrap(wrapped, Buffer.from("aad")), Buffer.alloc(32, 3), "a restarted service unwraps what it wrapped");
    for (const line of [...first.lines, ...second.lines]) assert.doesNotMatch(line, /0303030303|pin/i);
  });

  test("wrap/unwrap round trip binds the AAD; the format byte is 0x02; the caller's material is left alone", async () => {
    const provider = await HsmRootKeyProvider.open(hsm, "root-b", createSilentLogger());
    for (const size of [16, 32, 64, 1218, 2400]) {
      const material = Buffer.alloc(size, 0xab);
      const wrapped = await provider.wrap(material, Buffer.from("version-1"));
      assert.deepEqual(material, Buffer.alloc(size, 0xab), "material untouched");
      assert.equal(wrapped[0], HSM_WRAP_FORMAT);
      assert.equal(wrapped.length, 1 + 12 + size + 16);
      assert.ok(isHsmWrapped(wrapped));
      assert.equal(wrapped.includes(material), false, "no clear material in the wrapping");
      assert.deepEqual(await provider.unwrap(wrapped, Buffer.from("version-1")), material);
      assert.equal(await reasonOf(provider.unwrap(wrapped, Buffer.from("version-2"))), "INTERNAL", "another AAD does not unwrap");
      const tampered = Buffer.from(wrapped);
      tampered[20] = tampered[20]! ^ 1;
      assert.equal(await reasonOf(provider.unwrap(tampered, Buffer.from("version-1"))), "INTERNAL");
    }
    const wrapped = await provider.wrap(Buffer.alloc(32, 1), Buffer.from("x"));
    const local = Buffer.from(wrapped);
    local[0] = FILE_WRAP_FORMAT;
    assert.equal(await reasonOf(provider.unwrap(local, Buffer.from("x"))), "INTERNAL", "format 1 is not the HSM's");
    const other = await HsmRootKeyProvider.open(hsm, "root-c", createSilentLogger());
    assert.equal(await reasonOf(other.unwrap(wrapped, Buffer.from("x"))), "INTERNAL", "another token key does not unwrap it");
  });

  test("openRootKeyProvider: hsm without an HSM is refused; with a leftover key file both formats are read, the HSM wraps", async () => {
    const dir = await mkdtemp(join(tmpdir(), "keyhold-root-select-"));
    try {
      const rootKeyFile = join(dir, "root-key.bin");
      await assert.rejects(openRootKeyProvider({ rootKey: "hsm", rootKeyFile, hsmRootKeyId: "root-d" }, createSilentLogger(), undefined), /needs an HSM/);
      const alone = await openRootKeyProvider({ rootKey: "hsm", rootKeyFile, hsmRootKeyId: "root-d" }, createSilentLogger(), hsm);
      assert.ok(alone instanceof HsmRootKeyProvider, "no key file: the HSM root alone (and no file is created)");

      const file = await LocalFileRootKeyProvider.open(rootKeyFile, createSilentLogger());
      const old = await file.wrap(Buffer.alloc(32, 7), Buffer.from("aad"));
      assert.equal(old[0], FILE_WRAP_FORMAT);
      const logs = recordingLogger();
      const both = await openRootKeyProvider({ rootKey: "hsm", rootKeyFile, hsmRootKeyId: "root-d" }, logs.logger, hsm);
      assert.ok(both instanceof FormatDispatchingRootKeyProvider);
      assert.ok(logs.lines.some((line) => line.includes("LOCAL ROOT KEY FILE STILL PRESENT")));
      assert.deepEqual(await both.unwrap(old, Buffer.from("aad")), Buffer.alloc(32, 7));
      const fresh = await both.wrap(Buffer.alloc(32, 8), Buffer.from("aad"));
      assert.equal(fresh[0], HSM_WRAP_FORMAT);
      assert.deepEqual(await both.unwrap(fresh, Buffer.from("aad")), Buffer.alloc(32, 8));
      await both.close();
      await file.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
