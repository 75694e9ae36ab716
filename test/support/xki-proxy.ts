// A real xki-proxy for end-to-end tests: the `keyhold xki-proxy` command in a child process, as
// a customer runs it next to their HSM, on a SoftHSMv2 token of its own (not hsm-gateway's),
// with one SigV4 credential under a path prefix and its admin API. stop() ends the process and
// start() runs it again on the same ports and token (its keys are token objects, so they are
// still there): "the proxy went away, and came back".
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { XksProxyForTests } from "@keyhold/key-service/testing";
import { createSoftHsmToken, USER_PIN } from "@keyhold/pkcs11/testing";
import { XkiAdminService } from "@keyhold/proto";
import { freePort } from "@keyhold/server-kit";

const CLI_MAIN = fileURLToPath(new URL("../../packages/cli/src/main.ts", import.meta.url));
const PREFIX = "e2e";
const ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef";
const CREDENTIAL = { accessKeyId: "AKIAXKIENDTOENDKEYSTORE", secretAccessKey: "E2eSecretAccessKeyForTheXkiProxy0123456789abcd" };
const START_TIMEOUT_MS = 30_000;


export interface RealXksProxy extends XksProxyForTests {
  readonly admin: Client<typeof XkiAdminService>;
  /** What the proxy process wrote to stderr (its JSON log lines). */
  output(): string;
}

/** Starts `keyhold xki-proxy` whose SigV4 credential is scoped to `region` (key-service's KEYHOLD_REGION). */
export async function startRealXksProxy(region: string): Promise<RealXksProxy> {
  const token = createSoftHsmToken("xki-e2e");
  const dir = mkdtempSync(join(tmpdir(), "keyhold-xki-e2e-"));
  const credentialsFile = join(dir, "credentials.json");
  writeFileSync(credentialsFile, JSON.stringify({ prefixes: [{ prefix: PREFIX, credentials: [CREDENTIAL] }] }), { mode: 0o600 });
  const [port, adminPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "",
    SOFTHSM2_CONF: token.conf,
    KEYHOLD_XKI_ADDR: `127.0.0.1:${port}`,
    KEYHOLD_XKI_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
    KEYHOLD_XKI_ADMIN_TOKEN: ADMIN_TOKEN,
    KEYHOLD_XKI_HSM_MODULE: token.modulePath,
    KEYHOLD_XKI_HSM_TOKEN_LABEL: token.label,
    KEYHOLD_XKI_HSM_PIN: USER_PIN,
    KEYHOLD_XKI_CREDENTIALS_FILE: credentialsFile,
    KEYHOLD_XKI_DATA_DIR: join(dir, "data"),
    KEYHOLD_XKI_REGION: region,
    KEYHOLD_LOG_LEVEL: "warn",
  };
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = "";

  const start = async (): Promise<void> => {
    if (child !== undefined) return;
    const proc = spawn(process.execPath, [CLI_MAIN, "xki-proxy"], { env, stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child = proc;
    exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`keyhold xki-proxy exited while starting:\n${output}`);
      try {
        if ((await fetch(`${endpoint}/ping`)).status === 200) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`keyhold xki-proxy did not answer /ping within ${START_TIMEOUT_MS} ms:\n${output}`);
      await sleep(100);
    }
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    if (proc === undefined) return;
    child = undefined;
    proc.kill("SIGTERM");
    await exited;
  };

  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${ADMIN_TOKEN}`);
    return next(request);
  };
  const admin = createClient(XkiAdminService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${adminPort}`, interceptors: [bearer] }));
  try {
    await start();
  } catch (error) {
    token.remove();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    endpoint,
    uriPath: `/${PREFIX}/kms/xks/v1`,
    credential: { accessKeyId: CREDENTIAL.accessKeyId, rawSecretAccessKey: CREDENTIAL.secretAccessKey },
    admin,
    async createKey(externalKeyId) {
      await admin.createKey({ externalKeyId });
    },
    async disableKey(externalKeyId) {
      await admin.disableKey({ externalKeyId });
    },
    async enableKey(externalKeyId) {
      await admin.enableKey({ externalKeyId });
    },
    stop,
    start,
    async close() {
      await stop();
      token.remove();
      rmSync(dir, { recursive: true, force: true });
    },
    output: () => output,
  };
}
