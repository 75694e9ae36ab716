// Rotation and deletion across a restart of `keyhold dev`: a rotation policy and a scheduled
// deletion set before the process stops take effect after it starts again once they are due
// (the jobs run at startup, on the injected clock), exactly once.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { CryptoService, ErrorInfoSchema, KeyService } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";
import { generateApiKey, withCredential } from "../support/auth.ts";

const DAY = 86_400_000;
let dataDir: string | undefined;
let running: DevInstance | undefined;

after(async () => {
  await running?.stop();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

const reasonOf = (error: unknown) => ConnectError.from(error).findDetails(ErrorInfoSchema)[0]?.reason;

test("a rotation and a deletion that fall due while keyhold is stopped happen once after it starts", async () => {
  dataDir = await mkdtemp(join(tmpdir(), "keyhold-jobs-restart-"));
  const credential = generateApiKey();
  const config = readDevConfig(
    { KEYHOLD_DATA_DIR: dataDir, KEYHOLD_GRPC_ADDR: "127.0.0.1:0", KEYHOLD_HTTP_ADDR: "127.0.0.1:0", KEYHOLD_SHUTDOWN_GRACE_MS: "2000", KEYHOLD_BOOTSTRAP_API_KEY: credential },
    process.cwd(),
  );
  let now = new Date("2026-09-01T00:00:00.000Z");
  const clock = { now: () => new Date(now.getTime()) };
  const start = async () => {
    running = await startDev(config, createSilentLogger(), { keyService: { clock } });
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${running.addresses.grpcPort}`, interceptors: [withCredential(credential)] });
    return { keys: createClient(KeyService, transport), crypto: createClient(CryptoService, transport) };
  };

  const first = await start();
  const rotating = (await first.keys.createKey({ description: "rotates" })).keyMetadata!;
  const doomed = (await first.keys.createKey({ description: "deleted" })).keyMetadata!;
  const underRotating = await first.crypto.encrypt({ keyId: rotating.keyId, plaintext: new Uint8Array([1]) });
  const underDoomed = await first.crypto.encrypt({ keyId: doomed.keyId, plaintext: new Uint8Array([2]) });
  await first.keys.updateRotationPolicy({ keyId: rotating.keyId, enabled: true, rotationPeriodInDays: 7 });
  await first.keys.scheduleKeyDeletion({ keyId: doomed.keyId, pendingWindowInDays: 7 });
  await running!.stop();
  running = undefined;

  now = new Date(now.getTime() + 8 * DAY);
  const second = await start();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const versions = (await second.keys.listKeyVersions({ keyId: rotating.keyId })).keyVersions.length;
    const gone = await second.keys.getKey({ keyId: doomed.keyId }).then(() => false, (error: unknown) => ConnectError.from(error).code === Code.NotFound);
    if (versions === 2 && gone) break;
    assert.ok(Date.now() < deadline, `after the restart: ${versions} versions, deleted ${gone}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual((await second.crypto.decrypt({ ciphertextBlob: underRotating.ciphertextBlob })).plaintext, new Uint8Array([1]));
  const fresh = await second.crypto.encrypt({ keyId: rotating.keyId, plaintext: new Uint8Array([3]) });
  assert.notEqual(fresh.keyVersionId, underRotating.keyVersionId);
  assert.equal(await second.crypto.decrypt({ ciphertextBlob: underDoomed.ciphertextBlob }).then(() => "decrypted", reasonOf), "INVALID_CIPHERTEXT");
  // Restarting again at the same time rotates nothing more.
  await running!.stop();
  running = undefined;
  const third = await start();
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await third.keys.listKeyVersions({ keyId: rotating.keyId })).keyVersions.length, 2);
});
