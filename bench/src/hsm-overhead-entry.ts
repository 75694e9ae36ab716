// One child process measuring what hsm-gateway adds to an AES-256-GCM encryption in the token:
// raw pkcs11js calls (C_EncryptInit + C_Encrypt with a fresh IV, the gateway's own sequence)
// against the same encryption through the gateway's API as key-service makes it in the
// all-in-one process (HsmClient → direct transport → handler checks → session pool → pkcs11js),
// on the same SoftHSMv2 token and key, same plaintext and AAD, same number in flight. The two
// alternate in rounds so drift on a shared machine hits both alike. The token comes from the
// environment (SOFTHSM2_CONF, KEYHOLD_HSM_*); the parameters are the one JSON argument; the
// result is one JSON line on stdout.
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { RemoteHsmClient } from "@keyhold/hsm-client";
import { createHsmGatewayApp, readHsmGatewayConfig } from "@keyhold/hsm-gateway";
import { createDirectTransport, createSilentLogger } from "@keyhold/server-kit";

export interface HsmOverheadParameters {
  readonly concurrencies: readonly number[];
  readonly rounds: number;
  readonly phaseSeconds: number;
  readonly plaintextBytes: number;
  readonly aadBytes: number;
}

export type HsmPath = "raw" | "gateway";

export interface HsmOverheadSample {
  readonly path: HsmPath;
  readonly concurrency: number;
  readonly calls: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
}

/** The line the child prints. */
export interface HsmOverheadOutput {
  readonly hsmOverhead: readonly HsmOverheadSample[];
}

const KEY_ID = "bench-aes-gcm";

function ckrOf(error: unknown): string | undefined {
  return /CKR_[A-Z_]+/.exec(error instanceof Error ? error.message : String(error))?.[0];
}

async function main(): Promise<void> {
  const parameters = JSON.parse(process.argv[2] ?? "{}") as HsmOverheadParameters;
  const config = readHsmGatewayConfig(process.env);
  const logger = createSilentLogger();
  const gateway = createHsmGatewayApp(config, logger);
  const hsm = new RemoteHsmClient(createDirectTransport(gateway.bindings, [], logger, { callingService: "key-service" }));
  await hsm.generateKey(KEY_ID, "AES_256", "ENCRYPT_DECRYPT");

  // The raw side: the same module (initialized and logged in by the gateway already), sessions of its own.
  const module = new pkcs11js.PKCS11();
  module.load(config.modulePath);
  try {
    module.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (ckrOf(error) !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") throw error;
  }
  const label = "label" in config.token ? config.token.label : undefined;
  const slot = module.C_GetSlotList(true).find((s) => module.C_GetTokenInfo(s).label.trim() === label);
  if (slot === undefined) throw new Error(`token ${label ?? "?"} not found`);
  const sessions = Array.from({ length: Math.min(config.poolSize, Math.max(...parameters.concurrencies)) }, () =>
    module.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION),
  );
  try {
    module.C_Login(sessions[0]!, pkcs11js.CKU_USER, config.pin.reveal());
  } catch (error) {
    if (ckrOf(error) !== "CKR_USER_ALREADY_LOGGED_IN") throw error;
  }
  module.C_FindObjectsInit(sessions[0]!, [
    { type: pkcs11js.CKA_ID, value: Buffer.from(KEY_ID, "utf8") },
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
  ]);
  const [key] = module.C_FindObjects(sessions[0]!, 1);
  module.C_FindObjectsFinal(sessions[0]!);
  if (key === undefined) throw new Error("the benchmark key is not in the token");

  const plaintext = randomBytes(parameters.plaintextBytes);
  const aad = randomBytes(parameters.aadBytes);
  const rawEncrypt = (session: Buffer): Buffer => {
    const iv = randomBytes(12);
    const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM_v240, iv, aad, ivBits: 96, tagBits: 128 };
    module.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_GCM, parameter }, key);
    return module.C_Encrypt(session, plaintext, Buffer.alloc(plaintext.length + 16));
  };
  // Both give the same shape of answer.
  if (rawEncrypt(sessions[0]!).length !== (await hsm.encrypt(KEY_ID, plaintext, aad)).ciphertext.length) throw new Error("raw and gateway answers differ in length");

  const measure = async (path: HsmPath, concurrency: number, seconds: number): Promise<HsmOverheadSample> => {
    let calls = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    const end = started + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async (_, worker) => {
        const session = sessions[worker % sessions.length]!;
        while (performance.now() < end) {
          if (path === "raw") {
            rawEncrypt(session);
            // Let the other workers in, as the gateway's callers take turns.
            await Promise.resolve();
          } else {
            await hsm.encrypt(KEY_ID, plaintext, aad);
          }
          calls++;
        }
      }),
    );
    const used = process.cpuUsage(cpu);
    return { path, concurrency, calls, seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
  };

  for (const concurrency of parameters.concurrencies) {
    await measure("raw", concurrency, 0.3);
    await measure("gateway", concurrency, 0.3);
  }
  const samples: HsmOverheadSample[] = [];
  for (let round = 0; round < parameters.rounds; round++) {
    for (const concurrency of parameters.concurrencies) {
      const order: HsmPath[] = round % 2 === 0 ? ["raw", "gateway"] : ["gateway", "raw"];
      for (const path of order) samples.push(await measure(path, concurrency, parameters.phaseSeconds));
    }
  }

  for (const session of sessions) module.C_CloseSession(session);
  await hsm.destroyKey(KEY_ID);
  await gateway.close();
  const output: HsmOverheadOutput = { hsmOverhead: samples };
  process.stdout.write(JSON.stringify(output) + "\n");
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`hsm overhead measurement failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
